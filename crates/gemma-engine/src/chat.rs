//! A conversation in the model's chat format over one session: earlier turns stay in the KV
//! cache, and each new turn evaluates only its own tokens.

use std::ops::ControlFlow;

use gemma_chat::{ChatTemplate, Message};

use crate::{EngineError, GenerateOptions, GenerateSummary, Session, StopReason, TokenEvent};

/// A chat: the messages so far, and what of them the session's cache holds.
#[derive(Debug)]
pub struct Chat {
    session: Session,
    template: ChatTemplate,
    system: Option<String>,
    messages: Vec<Message>,
    /// The rendered conversation the cache (with `pending`) stands for; empty when the cache
    /// must be rebuilt.
    rendered: String,
    /// Sampled tokens not yet evaluated (the last one of an answer).
    pending: Vec<u32>,
}

impl Chat {
    /// A chat over `session` (cleared) in the model's chat template.
    pub fn new(mut session: Session) -> Result<Chat, EngineError> {
        let template = session.model().chat_template()?;
        session.reset();
        Ok(Chat {
            session,
            template,
            system: None,
            messages: Vec::new(),
            rendered: String::new(),
            pending: Vec::new(),
        })
    }

    /// The session underneath.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The conversation so far (the system message first, when set).
    pub fn messages(&self) -> Vec<Message> {
        let mut all: Vec<Message> = self.system.iter().map(Message::system).collect();
        all.extend(self.messages.iter().cloned());
        all
    }

    /// Forget the conversation (the system message stays).
    pub fn reset(&mut self) {
        self.messages.clear();
        self.rendered.clear();
        self.pending.clear();
        self.session.reset();
    }

    /// Set (or with `None` remove) the system message; the conversation starts over.
    pub fn set_system(&mut self, text: Option<String>) {
        self.system = text;
        self.reset();
    }

    /// Send a user message and generate the model's answer, streaming it to `on_token`
    /// (which may stop it). Only the new turn's tokens are evaluated when the cache holds the
    /// conversation so far.
    pub fn send<F>(
        &mut self,
        text: &str,
        opts: &GenerateOptions,
        mut on_token: F,
    ) -> Result<GenerateSummary, EngineError>
    where
        F: FnMut(&TokenEvent<'_>) -> ControlFlow<()>,
    {
        let mut messages = self.messages();
        messages.push(Message::user(text));
        let full = self.template.render(&messages, true)?;
        let model = self.session.model().clone();
        let reuse = !self.rendered.is_empty() && full.starts_with(&self.rendered);
        let feed = if reuse {
            let mut feed = std::mem::take(&mut self.pending);
            feed.extend(model.tokenize(&full[self.rendered.len()..], false)?);
            feed
        } else {
            self.session.reset();
            self.pending.clear();
            // The template writes BOS itself.
            model.tokenize(&full, false)?
        };
        let mut answer = String::new();
        let result = self.session.generate(&feed, opts, |ev| {
            answer.push_str(ev.text);
            on_token(ev)
        });
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                // Nothing of this turn is kept.
                self.rendered.clear();
                return Err(e);
            }
        };
        self.messages.push(Message::user(text));
        self.messages.push(Message::assistant(answer.clone()));
        // The cache holds the turn and the answer's tokens but its last; keep them only when
        // they are exactly the answer's text.
        let exact = matches!(
            summary.stop,
            StopReason::EndOfGeneration | StopReason::MaxTokens
        ) && model.detokenize(&summary.tokens) == answer;
        if exact {
            self.rendered = full + &answer;
            self.pending = summary.tokens.last().copied().into_iter().collect();
        } else {
            self.rendered.clear();
            self.pending.clear();
        }
        Ok(summary)
    }
}
