//! Tensor sources: GGUF files and Hugging Face checkpoints, both seen through GGUF tensor
//! names, with each format's conventions (norm weights stored as `w` or `1+w`, the embedding
//! scale's rounding) stated in one place.

use gemma_formats::names::{hf, tensor};
use gemma_formats::{GgufFile, SafetensorsSet};
use gemma_kernels::DType;
use half::{bf16, f16};

use crate::storage::{Storage, TensorLoc};

/// One tensor found in a source.
#[derive(Clone, Debug)]
pub struct FoundTensor {
    /// Its name in the file (for messages).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions in GGML order (row length first).
    pub dims: Vec<u64>,
    /// Where its bytes are.
    pub loc: TensorLoc,
}

/// A file format's tensors, looked up by GGUF name.
pub trait TensorSource {
    /// The tensor the GGUF name `name` stands for, if the source has it.
    fn find(&self, name: &str) -> Option<FoundTensor>;
    /// The bytes at `loc`.
    fn data(&self, loc: &TensorLoc) -> &[u8];
    /// What to add to stored RMSNorm weights to get the `1+w` factor.
    fn norm_offset(&self) -> f32;
    /// The factor embeddings are multiplied by, for a model of width `hidden` whose embedding
    /// is stored as `dtype`.
    fn embed_scale(&self, hidden: usize, dtype: DType) -> f32;
    /// The name a missing GGUF tensor `name` has in this format, for error messages.
    fn describe(&self, name: &str) -> String;
    /// The storage the found tensors point into.
    fn storage(&self) -> Storage;
}

/// Tensors of a GGUF file: names as they are, norms already `1+w`, the embedding scale in f32
/// (as llama.cpp computes it).
pub struct GgufSource<'a>(pub &'a std::sync::Arc<GgufFile>);

impl TensorSource for GgufSource<'_> {
    fn find(&self, name: &str) -> Option<FoundTensor> {
        let t = self.0.tensor(name)?;
        Some(FoundTensor {
            name: t.name.clone(),
            dtype: t.dtype,
            dims: t.dims.clone(),
            loc: TensorLoc::Gguf(t.clone()),
        })
    }
    fn data(&self, loc: &TensorLoc) -> &[u8] {
        match loc {
            TensorLoc::Gguf(t) => self.0.tensor_data(t),
            TensorLoc::Safetensors { .. } => &[],
        }
    }
    fn norm_offset(&self) -> f32 {
        0.0
    }
    fn embed_scale(&self, hidden: usize, _dtype: DType) -> f32 {
        (hidden as f32).sqrt()
    }
    fn describe(&self, name: &str) -> String {
        name.to_string()
    }
    fn storage(&self) -> Storage {
        Storage::Gguf(self.0.clone())
    }
}

/// Tensors of a Hugging Face checkpoint, under transformers' names.
///
/// transformers stores RMSNorm weights as `w` and multiplies by `1+w`, and builds the
/// embedding scale `sqrt(hidden_size)` in the model's dtype (`GemmaModel`'s `normalizer`,
/// `Gemma3TextScaledWordEmbedding`'s `embed_scale.to(weight.dtype)`), so a bf16 checkpoint
/// run as stored scales by `bf16(sqrt(hidden_size))`.
pub struct HfSource<'a> {
    set: &'a std::sync::Arc<SafetensorsSet>,
    prefix: &'static str,
    norms: hf::LayerNorms,
}

impl<'a> HfSource<'a> {
    /// Recognise the checkpoint's layout: which prefix holds the text model, and whether its
    /// blocks have pre and post norms (Gemma 2, 3) or pre norms only (Gemma 1).
    pub fn new(set: &'a std::sync::Arc<SafetensorsSet>) -> HfSource<'a> {
        let prefix = hf::MODEL_PREFIXES
            .into_iter()
            .find(|p| set.tensor(&format!("{p}{}", hf::EMBED_TOKENS)).is_some())
            .unwrap_or(hf::MODEL_PREFIXES[0]);
        let marker = format!("{prefix}{}", hf::layer(0, hf::PRE_FEEDFORWARD));
        let norms = if set.tensor(&marker).is_some() {
            hf::LayerNorms::PrePost
        } else {
            hf::LayerNorms::PreOnly
        };
        HfSource { set, prefix, norms }
    }

    /// The transformers name of a GGUF tensor name (`None`: this layout has no such tensor).
    pub fn hf_name(&self, name: &str) -> Option<String> {
        let p = self.prefix;
        match name {
            tensor::TOKEN_EMBD => Some(format!("{p}{}", hf::EMBED_TOKENS)),
            tensor::OUTPUT_NORM => Some(format!("{p}{}", hf::NORM)),
            tensor::OUTPUT => hf::LM_HEAD_NAMES
                .into_iter()
                .find(|n| self.set.tensor(n).is_some())
                .map(str::to_string),
            _ => {
                let rest = name.strip_prefix("blk.")?;
                let (i, suffix) = rest.split_once('.')?;
                let i: usize = i.parse().ok()?;
                let h = hf::block_suffix(suffix, self.norms)?;
                Some(format!("{p}{}", hf::layer(i, h)))
            }
        }
    }
}

impl TensorSource for HfSource<'_> {
    fn find(&self, name: &str) -> Option<FoundTensor> {
        let hf_name = self.hf_name(name)?;
        let shard = self.set.shard_index(&hf_name)?;
        let info = self.set.tensor(&hf_name)?.clone();
        Some(FoundTensor {
            name: hf_name,
            dtype: info.dtype,
            dims: info.ggml_dims(),
            loc: TensorLoc::Safetensors { shard, info },
        })
    }
    fn data(&self, loc: &TensorLoc) -> &[u8] {
        match loc {
            TensorLoc::Safetensors { shard, info } => self
                .set
                .shards()
                .get(*shard)
                .map_or(&[][..], |f| f.tensor_data(info)),
            TensorLoc::Gguf(_) => &[],
        }
    }
    fn norm_offset(&self) -> f32 {
        1.0
    }
    fn embed_scale(&self, hidden: usize, dtype: DType) -> f32 {
        let s = (hidden as f32).sqrt();
        match dtype {
            DType::BF16 => bf16::from_f32(s).to_f32(),
            DType::F16 => f16::from_f32(s).to_f32(),
            _ => s,
        }
    }
    fn describe(&self, name: &str) -> String {
        match self.hf_name(name) {
            Some(h) => format!("{h} (GGUF {name})"),
            None => format!("the tensor GGUF calls {name}"),
        }
    }
    fn storage(&self) -> Storage {
        Storage::Safetensors(self.set.clone())
    }
}
