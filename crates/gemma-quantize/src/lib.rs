//! `gemma quantize`: a GGUF file or a Hugging Face Gemma folder in, a GGUF file out, with
//! llama.cpp's per-tensor type mix ([`mix`]), its quantizers bit for bit
//! ([`gemma_kernels::quantize_row`]) and, for folders, the metadata and SentencePiece
//! vocabulary llama.cpp's converter would write ([`hf`], [`vocab`]).
//!
//! ```no_run
//! use gemma_quantize::{quantize, FileType, NoProgress, Options};
//! # fn main() -> Result<(), gemma_quantize::QuantizeError> {
//! let opts = Options::new(FileType::Q4_K_M);
//! let summary = quantize("gemma-3-270m/".as_ref(), "out.gguf".as_ref(), &opts, &mut NoProgress)?;
//! println!("{summary}");
//! # Ok(())
//! # }
//! ```
//!
//! The output is written to a temporary file in the output's folder and renamed at the
//! end, so a failure never leaves a partial file.

mod error;
mod ftype;
pub mod hf;
pub mod mix;
mod pipeline;
mod progress;
pub mod vocab;

pub use error::QuantizeError;
pub use ftype::{is_quantized, FileType};
pub use pipeline::{quantize, InputKind, Options, Summary};
pub use progress::{BarProgress, NoProgress, Progress};
