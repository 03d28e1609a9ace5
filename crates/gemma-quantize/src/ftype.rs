//! The output file types `gemma quantize --type` accepts, with llama.cpp's names, its
//! `general.file_type` ids (`enum llama_ftype` in `llama.h`) and default tensor types.

use gemma_kernels::DType;

/// A target file type, named as `llama-quantize` names it.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Everything F32.
    F32,
    /// 2-D weights F16, the rest F32.
    F16,
    /// 2-D weights BF16, the rest F32.
    BF16,
    /// Q8_0.
    Q8_0,
    /// Q4_0.
    Q4_0,
    /// Q4_1.
    Q4_1,
    /// Q5_0.
    Q5_0,
    /// Q5_1.
    Q5_1,
    /// Q2_K with Q3_K/Q4_K for sensitive tensors.
    Q2_K,
    /// Q3_K, small.
    Q3_K_S,
    /// Q3_K, medium.
    Q3_K_M,
    /// Q3_K, large.
    Q3_K_L,
    /// Q4_K, small.
    Q4_K_S,
    /// Q4_K, medium: Q6_K for some attn_v / ffn_down layers.
    Q4_K_M,
    /// Q5_K, small.
    Q5_K_S,
    /// Q5_K, medium: Q6_K for some attn_v / ffn_down layers.
    Q5_K_M,
    /// Q6_K.
    Q6_K,
}

impl FileType {
    /// Every supported file type.
    pub const ALL: [FileType; 17] = [
        FileType::F32,
        FileType::F16,
        FileType::BF16,
        FileType::Q8_0,
        FileType::Q4_0,
        FileType::Q4_1,
        FileType::Q5_0,
        FileType::Q5_1,
        FileType::Q2_K,
        FileType::Q3_K_S,
        FileType::Q3_K_M,
        FileType::Q3_K_L,
        FileType::Q4_K_S,
        FileType::Q4_K_M,
        FileType::Q5_K_S,
        FileType::Q5_K_M,
        FileType::Q6_K,
    ];

    /// The name `llama-quantize` uses.
    pub fn name(self) -> &'static str {
        match self {
            FileType::F32 => "F32",
            FileType::F16 => "F16",
            FileType::BF16 => "BF16",
            FileType::Q8_0 => "Q8_0",
            FileType::Q4_0 => "Q4_0",
            FileType::Q4_1 => "Q4_1",
            FileType::Q5_0 => "Q5_0",
            FileType::Q5_1 => "Q5_1",
            FileType::Q2_K => "Q2_K",
            FileType::Q3_K_S => "Q3_K_S",
            FileType::Q3_K_M => "Q3_K_M",
            FileType::Q3_K_L => "Q3_K_L",
            FileType::Q4_K_S => "Q4_K_S",
            FileType::Q4_K_M => "Q4_K_M",
            FileType::Q5_K_S => "Q5_K_S",
            FileType::Q5_K_M => "Q5_K_M",
            FileType::Q6_K => "Q6_K",
        }
    }

    /// Parses a name case-insensitively (`Q4_K` alone means `Q4_K_M`, `Q5_K` means
    /// `Q5_K_M`, `Q3_K` means `Q3_K_M`, as in `llama-quantize`).
    pub fn parse(name: &str) -> Option<FileType> {
        let upper = name.to_ascii_uppercase();
        let alias = match upper.as_str() {
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            "Q3_K" => "Q3_K_M",
            other => other,
        };
        FileType::ALL.into_iter().find(|t| t.name() == alias)
    }

    /// The names accepted by [`FileType::parse`], comma-separated.
    pub fn known_names() -> String {
        FileType::ALL.map(FileType::name).join(", ")
    }

    /// llama.cpp's `general.file_type` value (`enum llama_ftype`).
    pub fn llama_ftype(self) -> u32 {
        match self {
            FileType::F32 => 0,
            FileType::F16 => 1,
            FileType::Q4_0 => 2,
            FileType::Q4_1 => 3,
            FileType::Q8_0 => 7,
            FileType::Q5_0 => 8,
            FileType::Q5_1 => 9,
            FileType::Q2_K => 10,
            FileType::Q3_K_S => 11,
            FileType::Q3_K_M => 12,
            FileType::Q3_K_L => 13,
            FileType::Q4_K_S => 14,
            FileType::Q4_K_M => 15,
            FileType::Q5_K_S => 16,
            FileType::Q5_K_M => 17,
            FileType::Q6_K => 18,
            FileType::BF16 => 32,
        }
    }

    /// The tensor type most 2-D weights get (`llama_ftype_get_default_type`).
    pub fn default_type(self) -> DType {
        match self {
            FileType::F32 => DType::F32,
            FileType::F16 => DType::F16,
            FileType::BF16 => DType::BF16,
            FileType::Q8_0 => DType::Q8_0,
            FileType::Q4_0 => DType::Q4_0,
            FileType::Q4_1 => DType::Q4_1,
            FileType::Q5_0 => DType::Q5_0,
            FileType::Q5_1 => DType::Q5_1,
            FileType::Q2_K => DType::Q2_K,
            FileType::Q3_K_S | FileType::Q3_K_M | FileType::Q3_K_L => DType::Q3_K,
            FileType::Q4_K_S | FileType::Q4_K_M => DType::Q4_K,
            FileType::Q5_K_S | FileType::Q5_K_M => DType::Q5_K,
            FileType::Q6_K => DType::Q6_K,
        }
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `t` is a block-quantized type (`ggml_is_quantized`).
pub fn is_quantized(t: DType) -> bool {
    !matches!(t, DType::F32 | DType::F16 | DType::BF16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases() {
        for t in FileType::ALL {
            assert_eq!(FileType::parse(t.name()), Some(t));
            assert_eq!(FileType::parse(&t.name().to_lowercase()), Some(t));
        }
        assert_eq!(FileType::parse("q4_k"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("Q7_0"), None);
        assert_eq!(FileType::Q4_K_M.llama_ftype(), 15);
    }
}
