//! Which type each tensor gets: a port of llama.cpp's `llama_tensor_get_type` (in
//! `src/llama-quant.cpp` of the llama.cpp vendored by llama-cpp-python 0.3.36) for the file
//! types of [`FileType`], without importance matrices or manual overrides.
//!
//! - Only tensors with 2 or more dimensions whose name ends in `weight` and does not
//!   contain `_norm.weight` are converted; the rest keep their type (norms and other 1-D
//!   tensors stay F32).
//! - Float file types (F32, F16, BF16) give every such tensor the default type.
//! - For quantized file types, `output.weight` (and `token_embd.weight` when there is no
//!   `output.weight`, i.e. tied embeddings as in every Gemma) gets Q6_K, or Q8_0 when its rows
//!   do not fill the default type's blocks; `attn_v` and `ffn_down` get more bits on some
//!   layers (`use_more_bits`) for Q4_K_M/Q5_K_M, and so on per file type.
//! - Tensors are visited in llama.cpp's order (layer number, then name) because the
//!   `attn_v` rule counts tensors as it goes.
//! - A row that does not fill the chosen type's blocks falls back as llama.cpp does:
//!   Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and F16 when even 32 does not
//!   divide the row. (llama.cpp 0.3.36 falls back from Q2_K/Q3_K to Q4_0, not to IQ4_NL, so
//!   no IQ4_NL quantizer is needed.)

use gemma_kernels::DType;

use crate::ftype::{is_quantized, FileType};

/// A tensor to plan: its GGUF name, GGML dims and current type.
#[derive(Clone, Debug)]
pub struct TensorShape<'a> {
    /// GGUF name, e.g. `blk.3.attn_v.weight`.
    pub name: &'a str,
    /// Dims in GGML order (`dims[0]` is the row length).
    pub dims: &'a [u64],
    /// The type the tensor has now (for HF sources: F32 for 1-D tensors, else the
    /// checkpoint's type).
    pub dtype: DType,
}

/// Model facts the rules read.
#[derive(Clone, Copy, Debug)]
pub struct MixModel {
    /// Number of transformer blocks (`n_layer`).
    pub n_layer: usize,
    /// Query heads per key/value head (`n_gqa`).
    pub n_gqa: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Output,
    TokenEmbd,
    AttnQkv,
    AttnKvB,
    AttnV,
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    if name == "output.weight" {
        return Category::Output;
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return Category::TokenEmbd;
    }
    let table = [
        ("attn_qkv.weight", Category::AttnQkv),
        ("attn_kv_b.weight", Category::AttnKvB),
        ("attn_v.weight", Category::AttnV),
        ("attn_k.weight", Category::AttnK),
        ("attn_q.weight", Category::AttnQ),
        ("attn_output.weight", Category::AttnOutput),
        ("ffn_up", Category::FfnUp),
        ("ffn_gate", Category::FfnGate),
        ("ffn_down", Category::FfnDown),
    ];
    table
        .into_iter()
        .find(|(pat, _)| name.contains(pat))
        .map_or(Category::Other, |(_, c)| c)
}

/// `ggml_n_dims`: dimensions up to the last one that is not 1.
fn n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1)
}

/// `tensor_allows_quantization` for the tensors a Gemma model has.
pub fn allows_quantization(name: &str, dims: &[u64]) -> bool {
    n_dims(dims) >= 2 && name.ends_with("weight") && !name.contains("_norm.weight")
}

/// The layer number of `blk.N.…`, or -1 (llama.cpp's `weight_name_comparer`).
fn layer_of(name: &str) -> i64 {
    name.strip_prefix("blk.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

/// Indices of `tensors` in llama.cpp's processing order: by layer number, then name.
pub fn llama_order(names: &[&str]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by(|&a, &b| (layer_of(names[a]), names[a]).cmp(&(layer_of(names[b]), names[b])));
    idx
}

fn use_more_bits(i_layer: usize, n_layers: usize) -> bool {
    let (i, n) = (i_layer as i64, n_layers as i64);
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// `tensor_type_fallback`: a type whose blocks fill rows of `ncols`.
pub fn fallback(ncols: u64, target: DType) -> DType {
    if ncols.is_multiple_of(target.block_len() as u64) {
        return target;
    }
    let ret = match target {
        DType::Q2_K | DType::Q3_K => DType::Q4_0,
        DType::Q4_K => DType::Q5_0,
        DType::Q5_K => DType::Q5_1,
        DType::Q6_K => DType::Q8_0,
        other => other,
    };
    if !ncols.is_multiple_of(ret.block_len() as u64) {
        DType::F16
    } else {
        ret
    }
}

/// Plans the type of every tensor (returned in the order given).
pub fn plan_types(ftype: FileType, model: MixModel, tensors: &[TensorShape]) -> Vec<DType> {
    let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
    let tied = !names.contains(&"output.weight");
    let n_attention_wv = names
        .iter()
        .filter(|n| {
            matches!(
                category(n),
                Category::AttnV | Category::AttnQkv | Category::AttnKvB
            )
        })
        .count();
    let mut out: Vec<DType> = tensors.iter().map(|t| t.dtype).collect();
    let mut i_attention_wv = 0usize;
    let mut i_ffn_down = 0usize;
    let default = ftype.default_type();
    for i in llama_order(&names) {
        let t = &tensors[i];
        if !allows_quantization(t.name, t.dims) {
            continue;
        }
        if !is_quantized(default) {
            out[i] = default;
            continue;
        }
        let cat = category(t.name);
        let mut new = default;
        let nx = t.dims[0];
        if cat == Category::Output || (tied && cat == Category::TokenEmbd) {
            if !nx.is_multiple_of(default.block_len() as u64) {
                new = DType::Q8_0;
            } else if new != DType::Q8_0 {
                new = DType::Q6_K;
            }
        } else if matches!(cat, Category::AttnV | Category::AttnQkv | Category::AttnKvB) {
            new = match ftype {
                FileType::Q2_K if model.n_gqa >= 4 => DType::Q4_K,
                FileType::Q2_K => DType::Q3_K,
                FileType::Q3_K_M if i_attention_wv < 2 => DType::Q5_K,
                FileType::Q3_K_M => DType::Q4_K,
                FileType::Q3_K_L => DType::Q5_K,
                FileType::Q4_K_M | FileType::Q5_K_M
                    if use_more_bits(i_attention_wv, n_attention_wv) =>
                {
                    DType::Q6_K
                }
                FileType::Q4_K_S if i_attention_wv < 4 => DType::Q5_K,
                _ => new,
            };
            i_attention_wv += 1;
        } else if cat == Category::FfnDown {
            // Without experts llama.cpp takes the layer from its running count.
            let (i_layer, n_layer) = (i_ffn_down, model.n_layer);
            new = match ftype {
                FileType::Q2_K => DType::Q3_K,
                FileType::Q3_K_M if i_layer < n_layer / 16 => DType::Q5_K,
                FileType::Q3_K_M => DType::Q4_K,
                FileType::Q3_K_L => DType::Q5_K,
                FileType::Q4_K_M | FileType::Q5_K_M if use_more_bits(i_layer, n_layer) => {
                    DType::Q6_K
                }
                FileType::Q4_K_S if i_layer < n_layer / 8 => DType::Q5_K,
                _ => new,
            };
            i_ffn_down += 1;
        } else if cat == Category::AttnOutput {
            new = match ftype {
                FileType::Q2_K => DType::Q3_K,
                FileType::Q3_K_M => DType::Q4_K,
                FileType::Q3_K_L => DType::Q5_K,
                _ => new,
            };
        }
        out[i] = fallback(nx, new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_layer_then_name() {
        let names = [
            "blk.10.a",
            "token_embd.weight",
            "blk.2.b",
            "blk.2.a",
            "output_norm",
        ];
        let order: Vec<&str> = llama_order(&names).into_iter().map(|i| names[i]).collect();
        assert_eq!(
            order,
            [
                "output_norm",
                "token_embd.weight",
                "blk.2.a",
                "blk.2.b",
                "blk.10.a"
            ]
        );
    }

    #[test]
    fn fallbacks_follow_llama_cpp() {
        assert_eq!(fallback(640, DType::Q4_K), DType::Q5_0);
        assert_eq!(fallback(640, DType::Q5_K), DType::Q5_1);
        assert_eq!(fallback(640, DType::Q6_K), DType::Q8_0);
        assert_eq!(fallback(640, DType::Q3_K), DType::Q4_0);
        assert_eq!(fallback(100, DType::Q4_K), DType::F16);
        assert_eq!(fallback(100, DType::Q8_0), DType::F16);
        assert_eq!(fallback(512, DType::Q4_K), DType::Q4_K);
    }

    #[test]
    fn use_more_bits_matches_the_formula() {
        // 18 layers (Gemma 3 270M): n/8 = 2, 7n/8 = 15.
        let more: Vec<usize> = (0..18).filter(|&i| use_more_bits(i, 18)).collect();
        assert_eq!(more, [0, 1, 4, 7, 10, 13, 15, 16, 17]);
    }
}
