//! Every AVX2+FMA kernel against its scalar twin on random inputs (skipped, with a note,
//! on CPUs without AVX2 and FMA, and on other architectures).

mod common;

use gemma_kernels::{kernel_level, KernelLevel};

#[test]
fn kernel_level_is_named() {
    let name = kernel_level();
    assert!(["scalar", "avx2+fma", "avx512"].contains(&name), "{name}");
    assert_eq!(name, gemma_kernels::active_level().name());
    assert!(gemma_kernels::active_level().is_supported());
    assert!(KernelLevel::Scalar.is_supported());
    println!("active kernel level: {name}");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::common::*;
    use gemma_kernels::x86::{available, axpy_f32_avx2, dot_f32_avx2, dot_row_avx2, AVX2_DTYPES};
    use gemma_kernels::{
        axpy_f32, axpy_f32_scalar, dot_f32, dot_f32_scalar, dot_row, dot_row_scalar, DType,
    };
    use proptest::prelude::*;

    fn skip(what: &str) -> bool {
        if available() {
            return false;
        }
        println!("note: CPU lacks AVX2/FMA, skipping the {what} SIMD comparison");
        true
    }

    fn axpy_close(
        got: &[f32],
        want: &[f32],
        a: f32,
        x: &[f32],
        y0: &[f32],
    ) -> Result<(), TestCaseError> {
        for i in 0..got.len() {
            let scale = y0[i].abs() + (a * x[i]).abs();
            prop_assert!(
                (got[i] - want[i]).abs() <= AXPY_REL_TOL * scale,
                "axpy[{}]: {} vs {}",
                i,
                got[i],
                want[i]
            );
        }
        Ok(())
    }

    proptest! {
        // Failing inputs are printed; no regression files are written into the source tree.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

        #[test]
        fn dot_f32_matches_scalar(n in 0usize..300, seed in any::<u64>()) {
            if skip("dot_f32") { return Ok(()); }
            let mut rng = TestRng::new(seed);
            let (a, b) = (rng.vec_f32(n), rng.vec_f32(n));
            let want = dot_f32_scalar(&a, &b);
            let scale = abs_dot(&a, &b);
            for got in [dot_f32_avx2(&a, &b), dot_f32(&a, &b)] {
                prop_assert!(dot_close(got, want, scale), "n={}: {} vs {}", n, got, want);
            }
        }

        #[test]
        fn axpy_f32_matches_scalar(n in 0usize..300, seed in any::<u64>()) {
            if skip("axpy_f32") { return Ok(()); }
            let mut rng = TestRng::new(seed);
            let (x, y0) = (rng.vec_f32(n), rng.vec_f32(n));
            let a = rng.signed() * 4.0;
            let mut want = y0.clone();
            axpy_f32_scalar(a, &x, &mut want);
            let mut got = y0.clone();
            axpy_f32_avx2(a, &x, &mut got);
            axpy_close(&got, &want, a, &x, &y0)?;
            let mut got = y0.clone();
            axpy_f32(a, &x, &mut got);
            axpy_close(&got, &want, a, &x, &y0)?;
        }

        #[test]
        fn dot_row_matches_scalar(
            t in 0..AVX2_DTYPES.len(),
            blocks in 0usize..=12,
            float_len in 0usize..300,
            seed in any::<u64>(),
        ) {
            if skip("dot_row") { return Ok(()); }
            let dtype = AVX2_DTYPES[t];
            let n = if dtype.block_len() == 1 { float_len } else { dtype.block_len() * blocks };
            let mut rng = TestRng::new(seed);
            let row = random_row(dtype, n, &mut rng);
            let x = rng.vec_f32(n);
            let w = dequantized(dtype, &row, n);
            let want = dot_row_scalar(dtype, &row, &x);
            let scale = abs_dot(&w, &x);
            let got = dot_row_avx2(dtype, &row, &x).expect("listed type has a kernel");
            prop_assert!(dot_close(got, want, scale), "{} n={}: avx2 {} vs scalar {}", dtype, n, got, want);
            let got = dot_row(dtype, &row, &x);
            prop_assert!(dot_close(got, want, scale), "{} n={}: dispatched {} vs scalar {}", dtype, n, got, want);
        }
    }

    #[test]
    fn types_without_avx2_kernel_say_so() {
        if skip("dot_row (unlisted types)") {
            return;
        }
        for t in DType::ALL {
            let n = t.block_len();
            let row = vec![0u8; t.block_bytes()];
            let got = dot_row_avx2(t, &row, &vec![0.0; n]);
            assert_eq!(got.is_some(), AVX2_DTYPES.contains(&t), "{t}");
        }
    }
}
