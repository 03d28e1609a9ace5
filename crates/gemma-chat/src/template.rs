//! [`ChatTemplate`]: a compiled chat template with its special tokens, rendering conversations
//! as transformers' `apply_chat_template(..., tokenize=False)` does, and [`fold_system`] for
//! templates that reject system messages.

use minijinja::{Environment, Value};
use serde::{Deserialize, Serialize};

use crate::env::{new_environment, Raised};
use crate::ChatError;

/// One message of a conversation, as transformers' chat messages (`{"role", "content"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `"system"`, `"user"` or `"assistant"` (templates see it unchanged).
    pub role: String,
    /// The message text.
    pub content: String,
}

impl Message {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `"system"` message.
    pub fn system(content: impl Into<String>) -> Message {
        Message::new("system", content)
    }

    /// A `"user"` message.
    pub fn user(content: impl Into<String>) -> Message {
        Message::new("user", content)
    }

    /// An `"assistant"` message.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new("assistant", content)
    }
}

/// Fuel (minijinja's budget of instructions and of data, about 64 bytes per unit) one render
/// may use by default: ample for conversations of megabytes (a Gemma template spends a few
/// dozen units per message plus about one per 64 bytes of content), while a hostile template
/// stops after a fraction of a second and at most a few hundred megabytes.
pub const DEFAULT_FUEL: u64 = 4_000_000;

/// Stack for a render with `fuel`: about 256 bytes (one level of formatting a nested value)
/// per 4 fuel (a template spends more than that to nest one level deeper), capped at 1 GiB.
fn render_stack_size(fuel: u64) -> usize {
    const MIB: u64 = 1 << 20;
    (16 * MIB + fuel.saturating_mul(64)).min(1024 * MIB) as usize
}

/// The name the template is registered under inside its environment (never shown: errors name
/// the template's origin instead).
const NAME: &str = "chat_template";

/// A compiled chat template together with the special tokens it is rendered with.
///
/// Rendering is `&self` and the type is `Send + Sync`, so one template serves many threads.
pub struct ChatTemplate {
    env: Environment<'static>,
    origin: String,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .field("source_len", &self.source.len())
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `source` (Jinja) once, to render with `bos_token`/`eos_token`. A syntax error
    /// is [`ChatError::Syntax`] with minijinja's message and the line.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate, ChatError> {
        ChatTemplate::with_origin("(chat template)", source, bos_token, eos_token)
    }

    /// As [`ChatTemplate::new`], naming where the template came from (for example
    /// `"model.gguf: tokenizer.chat_template"`); errors quote `origin`.
    pub fn with_origin(
        origin: impl Into<String>,
        source: &str,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<ChatTemplate, ChatError> {
        let origin = origin.into();
        let syntax_error = |err: minijinja::Error| ChatError::Syntax {
            origin: origin.clone(),
            line: err.line(),
            message: match (err.kind(), err.detail()) {
                (minijinja::ErrorKind::SyntaxError, Some(detail)) => detail.to_owned(),
                _ => describe(&err),
            },
        };
        let mut env = new_environment(Some(DEFAULT_FUEL)).map_err(syntax_error)?;
        env.add_template_owned(NAME, source.to_owned())
            .map_err(syntax_error)?;
        Ok(ChatTemplate {
            env,
            origin,
            source: source.to_owned(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// Sets the fuel budget of each render (`None`: unlimited, for trusted templates only).
    /// The default is [`DEFAULT_FUEL`]; running out is a [`ChatError::Render`].
    pub fn with_fuel(mut self, fuel: Option<u64>) -> ChatTemplate {
        self.env.set_fuel(fuel);
        self
    }

    /// Where the template came from, as given when it was built.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `bos_token` the template is rendered with.
    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    /// The `eos_token` the template is rendered with.
    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// Renders a conversation; with `add_generation_prompt` the template appends the header of
    /// the model's turn (`<start_of_turn>model\n` for Gemma).
    ///
    /// The output is exactly transformers' `apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt=...)` whenever transformers succeeds. One deliberate difference:
    /// when the template rejects the conversation with `raise_exception` (Gemma 1 and 2 raise
    /// "System role not supported") and the conversation has a system message, the system
    /// message is folded into the first user turn ([`fold_system`], as Gemma 3's template
    /// does) and the folded conversation is rendered instead; errors then come from the fold
    /// ([`ChatError::UnexpectedRole`], [`ChatError::SystemWithoutUser`]) or from the template.
    /// Templates that accept a system message (Gemma 3) are never second-guessed. An empty
    /// conversation is [`ChatError::EmptyConversation`], as transformers refuses it too.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        match self.render_exact(messages, add_generation_prompt) {
            Err(ChatError::Template { .. }) if messages.iter().any(|m| m.role == "system") => {
                let folded = fold_system(messages)?;
                self.render_exact(&folded, add_generation_prompt)
            }
            other => other,
        }
    }

    /// Renders a conversation exactly as transformers does, without the system-message fold of
    /// [`ChatTemplate::render`]: the template's own `raise_exception` calls are
    /// [`ChatError::Template`] errors with its message.
    pub fn render_exact(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        if messages.is_empty() {
            return Err(ChatError::EmptyConversation);
        }
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())])
            })
            .collect();
        let ctx = Value::from_pairs([
            ("messages", Value::from(messages)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            // transformers passes these as None when no tools or documents are given.
            ("tools", Value::from(())),
            ("documents", Value::from(())),
        ]);
        // Everything the template builds is created and dropped inside `run`, and only strings
        // come out of it.
        let run = || {
            let template = self
                .env
                .get_template(NAME)
                .map_err(|e| self.render_error(e))?;
            template
                .render(ctx.clone())
                .map_err(|e| self.render_error(e))
        };
        let Some(fuel) = self.env.fuel() else {
            return run();
        };
        // minijinja formats and drops nested values recursively; a template can nest a list
        // about fuel/8 levels deep, which would overflow an ordinary thread's stack. Render on a
        // thread whose stack covers that (address space only: untouched pages cost nothing).
        let stack = render_stack_size(fuel);
        std::thread::scope(|scope| {
            match std::thread::Builder::new()
                .name("gemma-chat-render".into())
                .stack_size(stack)
                .spawn_scoped(scope, run)
            {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: render here, as with unlimited fuel.
                Err(_) => run(),
            }
        })
    }

    /// Maps a minijinja render error: `raise_exception` becomes [`ChatError::Template`].
    fn render_error(&self, err: minijinja::Error) -> ChatError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(raised) = e.downcast_ref::<Raised>() {
                return ChatError::Template {
                    origin: self.origin.clone(),
                    message: raised.0.clone(),
                };
            }
            source = e.source();
        }
        ChatError::Render {
            origin: self.origin.clone(),
            line: err.line(),
            message: describe(&err),
        }
    }
}

/// minijinja's error without the template name and line (reported separately).
fn describe(err: &minijinja::Error) -> String {
    let mut message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        message.push_str(&format!(" (caused by: {e})"));
        source = e.source();
    }
    message
}

/// Folds a system message into the first user turn, as Gemma 3's template does: the
/// conversation `[system S, user U, rest...]` becomes `[user S + "\n\n" + U, rest...]`.
/// A conversation without a system message is returned unchanged.
///
/// Errors: a system message anywhere but first (several system messages included) is
/// [`ChatError::UnexpectedRole`] naming the first such message; so is a first system message
/// followed by anything but a user message; a system message alone is
/// [`ChatError::SystemWithoutUser`].
pub fn fold_system(messages: &[Message]) -> Result<Vec<Message>, ChatError> {
    if !messages.iter().any(|m| m.role == "system") {
        return Ok(messages.to_vec());
    }
    if let Some(index) = messages.iter().skip(1).position(|m| m.role == "system") {
        return Err(ChatError::UnexpectedRole {
            index: index + 1,
            expected:
                "a user or assistant message (only the first message may be a system message)",
            got: "system".to_owned(),
        });
    }
    let (system, first) = match messages {
        [system, first, ..] => (system, first),
        _ => return Err(ChatError::SystemWithoutUser { index: 0 }),
    };
    if first.role != "user" {
        return Err(ChatError::UnexpectedRole {
            index: 1,
            expected: "a user message after the system message",
            got: first.role.clone(),
        });
    }
    let mut folded = Vec::with_capacity(messages.len() - 1);
    folded.push(Message::user(format!(
        "{}\n\n{}",
        system.content, first.content
    )));
    folded.extend_from_slice(&messages[2..]);
    Ok(folded)
}
