//! Progress reporting: a trait the pipeline calls per tensor, a silent implementation and
//! an indicatif bar on stderr.

use gemma_formats::DType;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives the pipeline's progress.
pub trait Progress {
    /// Conversion starts: `n_tensors` tensors will follow.
    fn start(&mut self, n_tensors: usize) {
        let _ = n_tensors;
    }
    /// Tensor `index` (0-based) is being converted from `from` to `to`.
    fn tensor(&mut self, index: usize, name: &str, from: DType, to: DType) {
        let _ = (index, name, from, to);
    }
    /// All tensors are written.
    fn finish(&mut self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// A progress bar on stderr, one step per tensor.
pub struct BarProgress {
    bar: Option<ProgressBar>,
}

impl BarProgress {
    /// A bar drawn on stderr (hidden when stderr is not a terminal).
    pub fn new() -> BarProgress {
        BarProgress { bar: None }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        BarProgress::new()
    }
}

impl Progress for BarProgress {
    fn start(&mut self, n_tensors: usize) {
        let bar =
            ProgressBar::with_draw_target(Some(n_tensors as u64), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} tensors [{elapsed_precise}] {msg}")
        {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    fn tensor(&mut self, index: usize, name: &str, from: DType, to: DType) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64);
            bar.set_message(format!("{name}: {from} -> {to}"));
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
