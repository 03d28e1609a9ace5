//! Binding of stored tensors to the model's weights: shapes and types checked once, data left
//! memory-mapped. GGUF names are the model's vocabulary; [`crate::source`] maps other formats
//! onto them.

use gemma_formats::names::{blk, tensor as names};
use gemma_kernels::DType;

use crate::source::TensorSource;
use crate::storage::TensorLoc;
use crate::{ModelConfig, ModelError};

/// A stored matrix: `rows` rows of `cols` weights each, in `dtype`, inside a mapped file.
#[derive(Clone, Debug)]
pub struct QMatrix {
    /// The tensor's name in its file.
    pub name: String,
    /// Element type of the stored weights.
    pub dtype: DType,
    /// Output features (rows).
    pub rows: usize,
    /// Input features (weights per row).
    pub cols: usize,
    /// Bytes per stored row.
    pub row_bytes: usize,
    /// Where the bytes are.
    pub loc: TensorLoc,
}

impl QMatrix {
    /// Element type of the stored weights.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

/// A norm weight vector, read to f32 once (they are tiny), holding the `1+w` factor itself.
pub type NormWeight = Vec<f32>;

/// The weights of one transformer block.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// Pre-attention RMSNorm (`1+w`).
    pub attn_norm: NormWeight,
    /// Query projection, `(q_dim, hidden)`.
    pub wq: QMatrix,
    /// Key projection, `(kv_dim, hidden)`.
    pub wk: QMatrix,
    /// Value projection, `(kv_dim, hidden)`.
    pub wv: QMatrix,
    /// Attention output projection, `(hidden, q_dim)`.
    pub wo: QMatrix,
    /// Per-head RMSNorm of queries, when the model has QK-norm.
    pub q_norm: Option<NormWeight>,
    /// Per-head RMSNorm of keys, when the model has QK-norm.
    pub k_norm: Option<NormWeight>,
    /// RMSNorm on the attention output before the residual add, when present.
    pub post_attn_norm: Option<NormWeight>,
    /// Pre-feed-forward RMSNorm.
    pub ffn_norm: NormWeight,
    /// GeGLU gate, `(intermediate, hidden)`.
    pub w_gate: QMatrix,
    /// GeGLU up, `(intermediate, hidden)`.
    pub w_up: QMatrix,
    /// Down projection, `(hidden, intermediate)`.
    pub w_down: QMatrix,
    /// RMSNorm on the feed-forward output before the residual add, when present.
    pub post_ffn_norm: Option<NormWeight>,
}

/// All weights of a model.
#[derive(Clone, Debug)]
pub struct Weights {
    /// Token embedding, `(vocab, hidden)`.
    pub token_embd: QMatrix,
    /// Output projection; the embedding itself when tied.
    pub output: QMatrix,
    /// Final RMSNorm.
    pub output_norm: NormWeight,
    /// The blocks.
    pub layers: Vec<LayerWeights>,
    /// Embeddings are multiplied by this: `sqrt(hidden_size)`, rounded to the embedding's
    /// dtype where the reference implementation of the format does so.
    pub embed_scale: f32,
}

fn matrix(
    src: &dyn TensorSource,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<QMatrix, ModelError> {
    let t = src
        .find(name)
        .ok_or_else(|| ModelError::MissingTensor(src.describe(name)))?;
    if t.dims != [cols as u64, rows as u64] {
        return Err(ModelError::BadShape {
            name: t.name,
            expected: vec![cols as u64, rows as u64],
            got: t.dims,
        });
    }
    if !cols.is_multiple_of(t.dtype.block_len()) {
        return Err(ModelError::BadType {
            name: t.name,
            dtype: t.dtype,
            expected: "a type whose blocks divide the row length",
        });
    }
    let row_bytes = cols / t.dtype.block_len() * t.dtype.block_bytes();
    Ok(QMatrix {
        name: t.name,
        dtype: t.dtype,
        rows,
        cols,
        row_bytes,
        loc: t.loc,
    })
}

fn norm(src: &dyn TensorSource, name: &str, len: usize) -> Result<Option<NormWeight>, ModelError> {
    let Some(t) = src.find(name) else {
        return Ok(None);
    };
    if t.dims != [len as u64] {
        return Err(ModelError::BadShape {
            name: t.name,
            expected: vec![len as u64],
            got: t.dims,
        });
    }
    if !matches!(t.dtype, DType::F32 | DType::F16 | DType::BF16) {
        return Err(ModelError::BadType {
            name: t.name,
            dtype: t.dtype,
            expected: "F32, F16 or BF16",
        });
    }
    let mut out = vec![0f32; len];
    gemma_kernels::dequantize_row(t.dtype, src.data(&t.loc), &mut out);
    let offset = src.norm_offset();
    if offset != 0.0 {
        out.iter_mut().for_each(|w| *w += offset);
    }
    Ok(Some(out))
}

fn required_norm(src: &dyn TensorSource, name: &str, len: usize) -> Result<NormWeight, ModelError> {
    norm(src, name, len)?.ok_or_else(|| ModelError::MissingTensor(src.describe(name)))
}

impl Weights {
    /// Bind every tensor the configuration needs, checking shapes and types. Tensor names are
    /// GGUF's; the source translates them.
    pub fn bind(src: &dyn TensorSource, cfg: &ModelConfig) -> Result<Weights, ModelError> {
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let (qd, kvd, hd) = (cfg.q_dim(), cfg.kv_dim(), cfg.head_dim);
        let token_embd = matrix(src, names::TOKEN_EMBD, cfg.vocab_size, d)?;
        let output = match src.find(names::OUTPUT) {
            Some(_) => matrix(src, names::OUTPUT, cfg.vocab_size, d)?,
            None => token_embd.clone(),
        };
        let output_norm = required_norm(src, names::OUTPUT_NORM, d)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let n = |s: &str| blk(i, s);
            layers.push(LayerWeights {
                attn_norm: required_norm(src, &n(names::ATTN_NORM), d)?,
                wq: matrix(src, &n(names::ATTN_Q), qd, d)?,
                wk: matrix(src, &n(names::ATTN_K), kvd, d)?,
                wv: matrix(src, &n(names::ATTN_V), kvd, d)?,
                wo: matrix(src, &n(names::ATTN_OUTPUT), d, qd)?,
                q_norm: norm(src, &n(names::ATTN_Q_NORM), hd)?,
                k_norm: norm(src, &n(names::ATTN_K_NORM), hd)?,
                post_attn_norm: norm(src, &n(names::POST_ATTENTION_NORM), d)?,
                ffn_norm: required_norm(src, &n(names::FFN_NORM), d)?,
                w_gate: matrix(src, &n(names::FFN_GATE), ff, d)?,
                w_up: matrix(src, &n(names::FFN_UP), ff, d)?,
                w_down: matrix(src, &n(names::FFN_DOWN), d, ff)?,
                post_ffn_norm: norm(src, &n(names::POST_FFW_NORM), d)?,
            });
        }
        let embed_scale = src.embed_scale(d, token_embd.dtype);
        Ok(Weights {
            token_embd,
            output,
            output_norm,
            layers,
            embed_scale,
        })
    }
}
