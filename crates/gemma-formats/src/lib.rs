//! GGUF reading: header, metadata, tensor infos and memory-mapped tensor data.
//!
//! [`GgufFile::open`] maps a GGUF v2 or v3 file and validates all of it up front
//! (header, every metadata value, every tensor info, alignment and tensor bounds),
//! so the accessors afterwards never panic. Tensor element types come from
//! [`gemma_kernels::DType`] (re-exported as [`DType`]). The [`names`] module is the
//! project's table of metadata keys and tensor names, and [`writer`] builds GGUF
//! files in memory for tests.
//!
//! Safetensors (Hugging Face checkpoints) are read by [`SafetensorsFile`] (one file,
//! validated at open, memory-mapped) and [`SafetensorsSet`] (a model folder: a single
//! `model.safetensors` or shards listed by `model.safetensors.index.json`);
//! [`SafetensorsWriter`] builds such files in memory.
//!
//! ```no_run
//! use gemma_formats::{names, GgufFile};
//! # fn main() -> Result<(), gemma_formats::GgufError> {
//! let file = GgufFile::open("model.gguf".as_ref())?;
//! let arch = file.get_str(names::general::ARCHITECTURE)?.unwrap_or("?");
//! let n_layers = file.get_u32(&names::arch_key(arch, names::arch::BLOCK_COUNT))?;
//! println!("{arch}, {n_layers:?} blocks");
//! for t in file.tensors() {
//!     let bytes: &[u8] = file.tensor_data(t);
//!     println!("{t}: {} bytes", bytes.len());
//! }
//! let q = file.tensor(&names::blk(0, names::tensor::ATTN_Q));
//! # let _ = q;
//! # Ok(())
//! # }
//! ```
//!
//! A round trip through the writer:
//!
//! ```
//! use gemma_formats::{writer::GgufWriter, GgufFile, Value};
//!
//! let mut w = GgufWriter::new();
//! w.add("general.architecture", "gemma3")
//!     .add("tokenizer.ggml.scores", vec![0.0f32, -1.5])
//!     .add_f32_tensor("output_norm.weight", &[2], &[1.0, 2.0]);
//! let file = GgufFile::from_bytes(w.to_bytes()?)?;
//! assert_eq!(file.get("general.architecture"), Some(&Value::from("gemma3")));
//! assert_eq!(file.get_f32_array("tokenizer.ggml.scores")?, Some(vec![0.0, -1.5]));
//! let t = file.tensor("output_norm.weight").unwrap();
//! assert_eq!(file.tensor_data(t), &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cursor;
mod error;
mod getters;
mod hf_folder;
pub mod names;
mod parse;
mod reader;
mod safetensors;
mod st_error;
mod st_writer;
mod storage;
mod tensor;
mod value;
pub mod writer;

pub use error::GgufError;
pub use gemma_kernels::DType;
pub use hf_folder::{SafetensorsSet, SAFETENSORS_INDEX, SAFETENSORS_SINGLE};
pub use parse::{DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH};
pub use reader::GgufFile;
pub use safetensors::{
    dtype_from_safetensors, safetensors_dtype_name, SafetensorsFile, StTensorInfo,
    MAX_SAFETENSORS_HEADER,
};
pub use st_error::SafetensorsError;
pub use st_writer::SafetensorsWriter;
pub use tensor::{ggml_type_name, TensorInfo, MAX_DIMS};
pub use value::{Value, ValueType};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn gguf_file_is_send_and_sync() {
        assert_send_sync::<GgufFile>();
        assert_send_sync::<SafetensorsFile>();
        assert_send_sync::<SafetensorsSet>();
    }
}
