//! Run-time choice of the kernel level (scalar or AVX2+FMA), made once per process.
//!
//! The environment variable `GEMMA_KERNELS` (`scalar`, `avx2` or `auto`) forces a level;
//! an unknown value, or a level this CPU cannot run, is reported on stderr and the best
//! supported level is used instead.

use std::sync::OnceLock;

/// Name of the environment variable that forces a kernel level.
pub const KERNELS_ENV: &str = "GEMMA_KERNELS";

/// A family of kernel implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLevel {
    /// Portable Rust, auto-vectorized for the compile target.
    Scalar,
    /// x86-64 AVX2 and FMA intrinsics (also requires F16C, which every AVX2 CPU has).
    Avx2Fma,
}

impl KernelLevel {
    /// Short name for logs: `"scalar"` or `"avx2+fma"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelLevel::Scalar => "scalar",
            KernelLevel::Avx2Fma => "avx2+fma",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            KernelLevel::Scalar => true,
            KernelLevel::Avx2Fma => avx2_fma_detected(),
        }
    }
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
pub(crate) fn choose(env: Option<&str>, avx2_ok: bool) -> (KernelLevel, Option<String>) {
    let best = if avx2_ok {
        KernelLevel::Avx2Fma
    } else {
        KernelLevel::Scalar
    };
    let Some(raw) = env else { return (best, None) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => (best, None),
        "scalar" => (KernelLevel::Scalar, None),
        "avx2" | "avx2+fma" | "avx2,fma" if avx2_ok => (KernelLevel::Avx2Fma, None),
        "avx2" | "avx2+fma" | "avx2,fma" => (
            best,
            Some(format!(
                "{KERNELS_ENV}={raw}: this CPU lacks AVX2/FMA; using {}",
                best.name()
            )),
        ),
        _ => (
            best,
            Some(format!(
                "{KERNELS_ENV}={raw:?} is not one of scalar, avx2, auto; using {}",
                best.name()
            )),
        ),
    }
}

static LEVEL: OnceLock<KernelLevel> = OnceLock::new();

/// The level every dispatched kernel uses, chosen on first call.
pub fn active_level() -> KernelLevel {
    *LEVEL.get_or_init(|| {
        let env = std::env::var(KERNELS_ENV).ok();
        let (level, warning) = choose(env.as_deref(), avx2_fma_detected());
        if let Some(w) = warning {
            eprintln!("gemma-kernels: warning: {w}");
        }
        level
    })
}

/// The active kernel level's name, e.g. `"avx2+fma"` or `"scalar"`, for logs and `gemma info`.
pub fn kernel_level() -> &'static str {
    active_level().name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_choices() {
        use KernelLevel::*;
        assert_eq!(choose(None, true), (Avx2Fma, None));
        assert_eq!(choose(None, false), (Scalar, None));
        assert_eq!(choose(Some("scalar"), true), (Scalar, None));
        assert_eq!(choose(Some(" AVX2 "), true), (Avx2Fma, None));
        assert_eq!(choose(Some("auto"), false), (Scalar, None));
        let (l, w) = choose(Some("avx2"), false);
        assert_eq!(l, Scalar);
        assert!(w.unwrap().contains("lacks"));
        let (l, w) = choose(Some("neon"), true);
        assert_eq!(l, Avx2Fma);
        assert!(w.unwrap().contains("\"neon\""));
    }
}
