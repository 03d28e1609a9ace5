//! The crate's error type: template compilation and rendering failures, conversation shape
//! errors, and problems reading a tokenizer configuration.

use std::path::PathBuf;

/// Everything that can go wrong compiling a chat template, rendering a conversation or loading
/// a template from a tokenizer configuration.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The template does not compile (Jinja syntax error).
    #[error("chat template {origin}: syntax error{}: {message}", line_suffix(*line))]
    Syntax {
        /// Where the template came from (a file and field, or a description).
        origin: String,
        /// The template line of the error, when known.
        line: Option<usize>,
        /// minijinja's description of the error.
        message: String,
    },
    /// The template called `raise_exception(message)`, as transformers' templates do to reject a
    /// conversation (for example "Conversation roles must alternate user/assistant/...").
    #[error("chat template {origin} rejected the conversation: {message}")]
    Template {
        /// Where the template came from.
        origin: String,
        /// The message the template passed to `raise_exception`, unchanged.
        message: String,
    },
    /// Rendering failed for another reason: an undefined value used as a mapping, a type error,
    /// or a template exceeding the fuel or recursion limits.
    #[error("chat template {origin}: render error{}: {message}", line_suffix(*line))]
    Render {
        /// Where the template came from.
        origin: String,
        /// The template line of the error, when known.
        line: Option<usize>,
        /// minijinja's description of the error.
        message: String,
    },
    /// The conversation has no messages.
    #[error("cannot render an empty conversation: give at least one message")]
    EmptyConversation,
    /// A message has a role that is not allowed where it is (reported while folding a system
    /// message into the first user turn).
    #[error("message {index}: expected {expected}, got role {got:?}")]
    UnexpectedRole {
        /// Index of the offending message in the conversation.
        index: usize,
        /// What was expected at that position.
        expected: &'static str,
        /// The role the message has.
        got: String,
    },
    /// A system message is the last message, so there is no user turn to fold it into.
    #[error(
        "message {index}: the system message is not followed by a user message to fold it into"
    )]
    SystemWithoutUser {
        /// Index of the system message.
        index: usize,
    },
    /// A tokenizer configuration (or template) file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tokenizer configuration file is not valid JSON.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
    /// A field of a tokenizer configuration file has an unexpected type or value.
    #[error("{}: field {field:?}: expected {expected}, got {got}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The field (a top-level key, or a path such as `chat_template[1].name`).
        field: String,
        /// What the field should hold.
        expected: &'static str,
        /// What it holds.
        got: String,
    },
}

/// `" (line N)"` or nothing.
fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}
