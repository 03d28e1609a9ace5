//! `gemma chat` in a real terminal, driven through tmux: answers stream in, a second turn is
//! answered, `/reset` clears the conversation, Ctrl-C stops an answer without ending the
//! program, and `/exit` ends it.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A tmux session running one command, killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let name = format!("gemma-chat-test-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "220",
                "-y",
                "60",
                cmd,
            ])
            .status()
            .expect("tmux runs");
        assert!(ok.success(), "tmux new-session failed");
        Tmux { name }
    }

    /// The whole pane as text (scrollback included).
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-2000", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Polls the screen until `done` holds (panics after `secs`); returns every distinct
    /// screen seen on the way.
    fn wait(&self, secs: u64, what: &str, done: impl Fn(&str) -> bool) -> Vec<String> {
        let t0 = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let s = self.screen();
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if done(&s) {
                return seen;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}; screen:\n{s}"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// Prompts (`> ` at a line start) on the screen.
fn prompts(s: &str) -> usize {
    s.lines().filter(|l| l.starts_with("> ")).count()
}

#[test]
fn chat_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("this test needs tmux (apt install tmux)");
    }
    let model = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    let bin = env!("CARGO_BIN_EXE_gemma");
    let cmd = format!(
        "{bin} chat -m '{}' --temp 0 -n 300 -t 2 -c 2048; sleep 30",
        model.display()
    );
    let t = Tmux::start(&cmd);
    t.wait(120, "the banner", |s| {
        s.contains("Chatting with") && prompts(s) >= 1
    });

    // Turn 1: the answer streams in (the screen grows several times before the next prompt),
    // and Ctrl-C stops it long before its 300 tokens.
    t.keys(&["Write a long story about a dragon.", "Enter"]);
    let before = t.screen();
    let growing = t.wait(60, "the answer to start", |s| {
        s.len() > before.len() + 40 && !s.contains("[stopped]")
    });
    t.keys(&["C-c"]);
    let after = t.wait(30, "Ctrl-C to stop the answer", |s| {
        s.contains("[stopped]") && prompts(s) >= 2
    });
    let distinct = growing.len() + after.len();
    assert!(
        distinct >= 3,
        "the answer did not stream: {distinct} screens"
    );
    assert!(t.alive(), "Ctrl-C ended the program");

    // Turn 2: a multi-turn answer, then /reset.
    t.keys(&["Now tell me its name.", "Enter"]);
    t.wait(120, "the second answer", |s| prompts(s) >= 3);
    t.keys(&["/reset", "Enter"]);
    t.wait(30, "the reset", |s| {
        s.contains("(conversation cleared)") && prompts(s) >= 4
    });
    t.keys(&["/exit", "Enter"]);
    // The command after gemma (a sleep) shows gemma returned; the pane has no new prompt.
    sleep(Duration::from_secs(2));
    let end = t.screen();
    assert_eq!(prompts(&end), 4, "{end}");
    assert!(!end.contains("error"), "{end}");
}
