//! Where a model's weights live: a memory-mapped GGUF file or a Hugging Face safetensors
//! checkpoint (one file or shards). Weights are referenced, never copied.

use std::sync::Arc;

use gemma_formats::{GgufFile, SafetensorsSet, StTensorInfo, TensorInfo};

/// The memory-mapped files holding a model's weights.
#[derive(Debug, Clone)]
pub enum Storage {
    /// One GGUF file.
    Gguf(Arc<GgufFile>),
    /// A Hugging Face checkpoint folder.
    Safetensors(Arc<SafetensorsSet>),
}

/// Where one tensor's bytes are inside a [`Storage`].
#[derive(Clone, Debug)]
pub enum TensorLoc {
    /// A tensor of the GGUF file.
    Gguf(TensorInfo),
    /// A tensor of shard `shard` of the safetensors checkpoint.
    Safetensors {
        /// Index into [`SafetensorsSet::shards`].
        shard: usize,
        /// The tensor as its shard describes it.
        info: StTensorInfo,
    },
}

impl Storage {
    /// The bytes of a tensor bound from this storage (empty if `loc` came from elsewhere).
    pub fn data(&self, loc: &TensorLoc) -> &[u8] {
        match (self, loc) {
            (Storage::Gguf(f), TensorLoc::Gguf(info)) => f.tensor_data(info),
            (Storage::Safetensors(s), TensorLoc::Safetensors { shard, info }) => s
                .shards()
                .get(*shard)
                .map_or(&[][..], |f| f.tensor_data(info)),
            _ => &[],
        }
    }

    /// Bytes of all mapped files together.
    pub fn file_size(&self) -> u64 {
        match self {
            Storage::Gguf(f) => f.file_size(),
            Storage::Safetensors(s) => s.shards().iter().map(|f| f.file_size()).sum(),
        }
    }

    /// The GGUF file, when the weights come from one.
    pub fn gguf(&self) -> Option<&Arc<GgufFile>> {
        match self {
            Storage::Gguf(f) => Some(f),
            Storage::Safetensors(_) => None,
        }
    }
}
