//! `gemma chat`: an interactive conversation in the model's chat format, streamed as it is
//! generated; earlier turns stay in the KV cache, so each turn evaluates only its own tokens.

use std::io::{BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use gemma_engine::{Chat, StopReason};

use crate::sampling::SamplingArgs;
use crate::ModelArgs;

/// Arguments of `gemma chat`.
#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// A system message (the same as typing `/system TEXT` first).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Context size in tokens (default: the model's, capped at 8192).
    #[arg(long, short = 'c')]
    pub ctx: Option<usize>,
}

/// What a line typed at the prompt asks for.
#[derive(Debug, PartialEq)]
enum Input<'a> {
    /// A message to the model.
    Say(&'a str),
    /// `/exit` or `/quit`.
    Exit,
    /// `/reset`: forget the conversation.
    Reset,
    /// `/system TEXT` (no text: remove the system message).
    System(Option<&'a str>),
    /// An unknown command or an empty line.
    Other(&'a str),
}

fn parse(line: &str) -> Input<'_> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match cmd {
        "/exit" | "/quit" => Input::Exit,
        "/reset" => Input::Reset,
        "/system" => Input::System(Some(rest.trim()).filter(|s| !s.is_empty())),
        _ if line.trim().is_empty() || line.starts_with('/') => Input::Other(line),
        _ => Input::Say(line),
    }
}

/// Run `gemma chat`.
pub fn chat(a: ChatArgs) -> Result<()> {
    let opts = a.sampling.options()?;
    let m = a.model.load()?;
    let mut chat = Chat::new(m.new_session(a.ctx, a.threads)?)?;
    chat.set_system(a.system.clone());
    // Ctrl-C stops the answer being generated, not the program.
    let generating = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (generating, interrupted) = (generating.clone(), interrupted.clone());
        ctrlc::set_handler(move || {
            if generating.load(Ordering::SeqCst) {
                interrupted.store(true, Ordering::SeqCst);
            } else {
                eprint!("\n(Ctrl-C stops an answer; /exit or Ctrl-D quits)\n> ");
            }
        })?;
    }
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!(
            "Chatting with {} ({} tokens of context). Commands: /reset, /system TEXT, /exit. \
             Ctrl-C stops an answer.",
            m.path.display(),
            chat.session().ctx()
        );
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    loop {
        if tty {
            eprint!("> ");
        }
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        match parse(&line) {
            Input::Exit => break,
            Input::Reset => {
                chat.reset();
                eprintln!("(conversation cleared)");
            }
            Input::System(text) => {
                chat.set_system(text.map(str::to_string));
                eprintln!(
                    "(system message {}; conversation cleared)",
                    if text.is_some() { "set" } else { "removed" }
                );
            }
            Input::Other(l) if l.trim().is_empty() => {}
            Input::Other(l) => eprintln!("unknown command `{l}`: /reset, /system TEXT or /exit"),
            Input::Say(text) => {
                interrupted.store(false, Ordering::SeqCst);
                generating.store(true, Ordering::SeqCst);
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                let res = chat.send(text, &opts, |ev| {
                    if out
                        .write_all(ev.text.as_bytes())
                        .and_then(|_| out.flush())
                        .is_err()
                        || interrupted.load(Ordering::SeqCst)
                    {
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                });
                generating.store(false, Ordering::SeqCst);
                let _ = writeln!(out);
                let _ = out.flush();
                match res {
                    Ok(s) if s.stop == StopReason::Stopped => eprintln!("[stopped]"),
                    Ok(s) if s.stop == StopReason::ContextFull => {
                        eprintln!("[the context is full: /reset to start over]")
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("error: {e} (/reset starts over)"),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse, Input};

    #[test]
    fn commands_and_messages() {
        assert_eq!(parse("hello there\n"), Input::Say("hello there"));
        assert_eq!(parse("/exit\n"), Input::Exit);
        assert_eq!(parse("/quit"), Input::Exit);
        assert_eq!(parse("/reset\r\n"), Input::Reset);
        assert_eq!(
            parse("/system Be brief.\n"),
            Input::System(Some("Be brief."))
        );
        assert_eq!(parse("/system\n"), Input::System(None));
        assert_eq!(parse("/nope\n"), Input::Other("/nope"));
        assert_eq!(parse("  \n"), Input::Other("  "));
    }
}
