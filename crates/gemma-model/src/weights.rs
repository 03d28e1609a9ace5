//! Binding of GGUF tensors to the model's weights: shapes checked once, data left memory-mapped.

use gemma_formats::names::{blk, tensor as names};
use gemma_formats::{GgufFile, TensorInfo};
use gemma_kernels::DType;

use crate::{ModelConfig, ModelError};

/// A stored matrix: `rows` rows of `cols` weights each, in `dtype`, inside the mapped file.
#[derive(Clone, Debug)]
pub struct QMatrix {
    /// The tensor as the file describes it.
    pub info: TensorInfo,
    /// Output features (rows).
    pub rows: usize,
    /// Input features (weights per row).
    pub cols: usize,
    /// Bytes per stored row.
    pub row_bytes: usize,
}

impl QMatrix {
    /// Element type of the stored weights.
    pub fn dtype(&self) -> DType {
        self.info.dtype
    }
}

/// A norm weight vector, read to f32 once (they are tiny).
pub type NormWeight = Vec<f32>;

/// The weights of one transformer block.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// Pre-attention RMSNorm (`1+w` as stored in GGUF).
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
}

fn matrix(file: &GgufFile, name: &str, rows: usize, cols: usize) -> Result<QMatrix, ModelError> {
    let info = file
        .tensor(name)
        .ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
    if info.dims != [cols as u64, rows as u64] {
        return Err(ModelError::BadShape {
            name: name.into(),
            expected: vec![cols as u64, rows as u64],
            got: info.dims.clone(),
        });
    }
    Ok(QMatrix {
        info: info.clone(),
        rows,
        cols,
        row_bytes: info.row_bytes() as usize,
    })
}

fn norm(file: &GgufFile, name: &str, len: usize) -> Result<Option<NormWeight>, ModelError> {
    let Some(info) = file.tensor(name) else {
        return Ok(None);
    };
    if info.dims != [len as u64] {
        return Err(ModelError::BadShape {
            name: name.into(),
            expected: vec![len as u64],
            got: info.dims.clone(),
        });
    }
    let mut out = vec![0f32; len];
    match info.dtype {
        DType::F32 | DType::F16 | DType::BF16 => {
            gemma_kernels::dequantize_row(info.dtype, file.tensor_data(info), &mut out)
        }
        dtype => {
            return Err(ModelError::BadType {
                name: name.into(),
                dtype,
                expected: "F32, F16 or BF16",
            })
        }
    }
    Ok(Some(out))
}

fn required_norm(file: &GgufFile, name: &str, len: usize) -> Result<NormWeight, ModelError> {
    norm(file, name, len)?.ok_or_else(|| ModelError::MissingTensor(name.to_string()))
}

impl Weights {
    /// Bind every tensor the configuration needs, checking shapes and types.
    pub fn from_gguf(file: &GgufFile, cfg: &ModelConfig) -> Result<Weights, ModelError> {
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        let (qd, kvd, hd) = (cfg.q_dim(), cfg.kv_dim(), cfg.head_dim);
        let token_embd = matrix(file, names::TOKEN_EMBD, cfg.vocab_size, d)?;
        let output = match file.tensor(names::OUTPUT) {
            Some(_) => matrix(file, names::OUTPUT, cfg.vocab_size, d)?,
            None => token_embd.clone(),
        };
        let output_norm = required_norm(file, names::OUTPUT_NORM, d)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let n = |s: &str| blk(i, s);
            layers.push(LayerWeights {
                attn_norm: required_norm(file, &n(names::ATTN_NORM), d)?,
                wq: matrix(file, &n(names::ATTN_Q), qd, d)?,
                wk: matrix(file, &n(names::ATTN_K), kvd, d)?,
                wv: matrix(file, &n(names::ATTN_V), kvd, d)?,
                wo: matrix(file, &n(names::ATTN_OUTPUT), d, qd)?,
                q_norm: norm(file, &n(names::ATTN_Q_NORM), hd)?,
                k_norm: norm(file, &n(names::ATTN_K_NORM), hd)?,
                post_attn_norm: norm(file, &n(names::POST_ATTENTION_NORM), d)?,
                ffn_norm: required_norm(file, &n(names::FFN_NORM), d)?,
                w_gate: matrix(file, &n(names::FFN_GATE), ff, d)?,
                w_up: matrix(file, &n(names::FFN_UP), ff, d)?,
                w_down: matrix(file, &n(names::FFN_DOWN), d, ff)?,
                post_ffn_norm: norm(file, &n(names::POST_FFW_NORM), d)?,
            });
        }
        Ok(Weights {
            token_embd,
            output,
            output_norm,
            layers,
        })
    }
}
