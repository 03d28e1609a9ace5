//! Progress reporting on stderr (never stdout, which belongs to generated text).
//!
//! Status lines are plain `eprintln!` so they also appear in logs; bars and spinners use
//! indicatif, which draws only when stderr is a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of a pull, or nothing when disabled.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// A reporter that prints only when `enabled`.
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// Prints one status line on stderr.
    pub fn line(&self, msg: impl AsRef<str>) {
        if self.enabled {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A ticking spinner with elapsed time, for work of unknown length (a pip download).
    pub fn spinner(&self, msg: String) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg} ({elapsed})") {
            pb.set_style(style);
        }
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    /// A byte-count bar of `total` bytes.
    pub fn bytes(&self, total: u64, msg: &'static str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        let template = "  {msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})";
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg);
        pb
    }
}

/// `bytes` as a short human-readable size (MB with one decimal).
pub fn human_size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
