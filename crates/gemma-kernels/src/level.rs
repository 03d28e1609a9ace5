//! Run-time choice of the kernel level (scalar, AVX2+FMA or AVX-512), made once per process.
//!
//! The environment variable `GEMMA_KERNELS` (`scalar`, `avx2`, `avx512` or `auto`) forces a
//! level; an unknown value, or a level this CPU cannot run, is reported on stderr and the best
//! supported level is used instead.
//!
//! The levels nest: AVX-512 runs the AVX2 kernels wherever it has no wider one of its own
//! (most one-token dots, which are bound by memory), and adds the batched prompt kernels and
//! the 512-bit shapes of ggml's float row dots (F32, F16, BF16; BF16 with `vdpbf16ps` where
//! the CPU also has AVX512-BF16).

use std::sync::OnceLock;

/// Name of the environment variable that forces a kernel level.
pub const KERNELS_ENV: &str = "GEMMA_KERNELS";

/// A family of kernel implementations, from the most portable to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelLevel {
    /// Portable Rust, auto-vectorized for the compile target.
    Scalar,
    /// x86-64 AVX2 and FMA intrinsics (also requires F16C, which every AVX2 CPU has).
    Avx2Fma,
    /// x86-64 AVX-512 (F, BW, VL) with VNNI, on top of everything `Avx2Fma` uses.
    Avx512,
}

impl KernelLevel {
    /// Every level, most portable first.
    pub const ALL: [KernelLevel; 3] = [
        KernelLevel::Scalar,
        KernelLevel::Avx2Fma,
        KernelLevel::Avx512,
    ];

    /// Short name for logs: `"scalar"`, `"avx2+fma"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelLevel::Scalar => "scalar",
            KernelLevel::Avx2Fma => "avx2+fma",
            KernelLevel::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            KernelLevel::Scalar => true,
            KernelLevel::Avx2Fma => avx2_fma_detected(),
            KernelLevel::Avx512 => avx512_detected(),
        }
    }

    /// Whether the level may run the AVX2+FMA kernels (it is `Avx2Fma` or wider).
    pub fn has_avx2(self) -> bool {
        self >= KernelLevel::Avx2Fma
    }

    /// The levels this CPU supports, most portable first (for tests that check each).
    pub fn supported() -> Vec<KernelLevel> {
        Self::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }
}

/// Whether the AVX2+FMA kernels run at the active level.
#[inline]
pub(crate) fn avx2_active() -> bool {
    active_level().has_avx2()
}

/// Whether the CPU has AVX-512 F, BW and VL with VNNI, besides AVX2, FMA and F16C (always
/// false off x86-64).
pub(crate) fn avx512_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_fma_detected()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX512-BF16 (`vdpbf16ps`) on top of everything the AVX-512 level needs,
/// detected once (always false off x86-64). It changes no level: at the AVX-512 level the BF16
/// row dots follow llama.cpp's AVX512-BF16 build where it is true, its AVX-512F build otherwise.
pub(crate) fn has_avx512_bf16() -> bool {
    static BF16: OnceLock<bool> = OnceLock::new();
    *BF16.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            avx512_detected() && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether the CPU has AVX2, FMA and F16C (always false off x86-64).
pub(crate) fn avx2_fma_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Picks a level from the env value and what the CPU supports; the second value is
/// a warning to report, if any.
/// `best` is the widest level the CPU supports.
pub(crate) fn choose(env: Option<&str>, best: KernelLevel) -> (KernelLevel, Option<String>) {
    let Some(raw) = env else { return (best, None) };
    let asked = match raw.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => return (best, None),
        "scalar" => KernelLevel::Scalar,
        "avx2" | "avx2+fma" | "avx2,fma" => KernelLevel::Avx2Fma,
        "avx512" | "avx-512" => KernelLevel::Avx512,
        _ => {
            return (
                best,
                Some(format!(
                    "{KERNELS_ENV}={raw:?} is not one of scalar, avx2, avx512, auto; using {}",
                    best.name()
                )),
            )
        }
    };
    if asked <= best {
        (asked, None)
    } else {
        (
            best,
            Some(format!(
                "{KERNELS_ENV}={raw}: this CPU cannot run {}; using {}",
                asked.name(),
                best.name()
            )),
        )
    }
}

/// The widest level this CPU supports.
fn best_supported() -> KernelLevel {
    *KernelLevel::supported()
        .last()
        .expect("the scalar level is always supported")
}

static LEVEL: OnceLock<KernelLevel> = OnceLock::new();

/// The level every dispatched kernel uses, chosen on first call.
pub fn active_level() -> KernelLevel {
    *LEVEL.get_or_init(|| {
        let env = std::env::var(KERNELS_ENV).ok();
        let (level, warning) = choose(env.as_deref(), best_supported());
        if let Some(w) = warning {
            eprintln!("gemma-kernels: warning: {w}");
        }
        level
    })
}

/// The active kernel level's name, e.g. `"avx512"`, `"avx2+fma"` or `"scalar"`, for logs and `gemma info`.
pub fn kernel_level() -> &'static str {
    active_level().name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_choices() {
        use KernelLevel::*;
        assert_eq!(choose(None, Avx2Fma), (Avx2Fma, None));
        assert_eq!(choose(None, Scalar), (Scalar, None));
        assert_eq!(choose(Some("scalar"), Avx512), (Scalar, None));
        assert_eq!(choose(Some(" AVX2 "), Avx512), (Avx2Fma, None));
        assert_eq!(choose(Some("avx512"), Avx512), (Avx512, None));
        assert_eq!(choose(Some("auto"), Scalar), (Scalar, None));
        let (l, w) = choose(Some("avx2"), Scalar);
        assert_eq!(l, Scalar);
        assert!(w.unwrap().contains("cannot run avx2+fma"));
        let (l, w) = choose(Some("avx512"), Avx2Fma);
        assert_eq!(l, Avx2Fma);
        assert!(w.unwrap().contains("cannot run avx512"));
        let (l, w) = choose(Some("neon"), Avx2Fma);
        assert_eq!(l, Avx2Fma);
        assert!(w.unwrap().contains("\"neon\""));
    }
}
