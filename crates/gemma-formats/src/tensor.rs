//! Tensor infos: name, shape, element type and where the data lies.

use std::fmt;

use gemma_kernels::DType;

/// The most dimensions a GGML tensor can have.
pub const MAX_DIMS: usize = 4;

/// One tensor's description from the GGUF tensor-info table, validated at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// The shape in GGML order: `dims[0]` is the contiguous row length. 1 to 4 entries, none 0.
    pub dims: Vec<u64>,
    /// The element type.
    pub dtype: DType,
    /// Start of the data, relative to the data section; a multiple of the file's alignment.
    pub offset: u64,
    /// The product of `dims`.
    pub n_elements: u64,
    /// Bytes of data.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Elements per row: `dims[0]`.
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Number of rows: the product of `dims[1..]` (1 for a vector).
    pub fn n_rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }

    /// Bytes per row (a whole number of blocks).
    pub fn row_bytes(&self) -> u64 {
        self.n_bytes.checked_div(self.n_rows()).unwrap_or(0)
    }
}

/// `name TYPE [d0, d1, ...]`, e.g. `blk.0.attn_q.weight Q5_0 [640, 1024]`.
impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.name, self.dtype, self.dims)
    }
}

/// GGML's name for a type id, including types this project does not implement
/// (`None` for ids GGML never had or removed).
pub fn ggml_type_name(id: u32) -> Option<&'static str> {
    if let Some(t) = DType::from_ggml_id(id) {
        return Some(t.name());
    }
    Some(match id {
        9 => "Q8_1",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        42 => "Q2_0",
        _ => return None,
    })
}
