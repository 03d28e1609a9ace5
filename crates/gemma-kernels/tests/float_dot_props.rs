//! The SIMD float row dots (F32, F16 and BF16 weights against activations of the same format)
//! give the bits of ggml's `ggml_vec_dot_f32` / `_f16` / `_bf16` as llama.cpp's x86 builds
//! compute them, written out below lane by lane (accumulator arrays, the reduction trees, the
//! f32 or f64 leftovers), for every build this CPU runs (`x86::dot_row_float`) and for the
//! dispatched `dot_row_act` at the active level; they agree with the scalar twin up to
//! summation order; and with the build of llama-cpp-python's library they give its bits on the
//! fixture `tests/data/act_quant_ggml.json`.

mod common;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::common::*;
    use gemma_kernels::x86::{dot_row_float, FloatDotBuild};
    use gemma_kernels::{
        act_bytes, act_type, active_level, dot_row_act, dot_row_act_scalar, quantize_act, DType,
    };
    use proptest::prelude::*;

    const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

    // -----------------------------------------------------------------------------------------
    // ggml's structures, lane by lane

    /// `GGML_F32x8_REDUCE`'s horizontal part: `t = low + high`, two `hadd`s.
    fn hadd8(v: &[f32]) -> f32 {
        let t: [f32; 4] = std::array::from_fn(|i| v[i] + v[4 + i]);
        (t[0] + t[1]) + (t[2] + t[3])
    }

    /// The AVX2 BF16 dot's horizontal sum: `t = low + high`, then `movehl`, `movehdup`.
    fn halves8(v: &[f32]) -> f32 {
        let t: [f32; 4] = std::array::from_fn(|i| v[i] + v[4 + i]);
        (t[0] + t[2]) + (t[1] + t[3])
    }

    /// `_mm512_reduce_add_ps` as GCC expands it.
    fn reduce16(v: &[f32]) -> f32 {
        let h: [f32; 8] = std::array::from_fn(|i| v[i] + v[8 + i]);
        halves8(&h)
    }

    /// Lanes of one register in a build's F32/F16 code.
    fn lanes(b: FloatDotBuild) -> usize {
        if b == FloatDotBuild::Avx2 {
            8
        } else {
            16
        }
    }

    /// ggml's F32/F16 main loop: 4 accumulators of `l` lanes, accumulator `j` taking values
    /// `[i + jl, i + (j+1)l)` of each step of `4l` by FMA; then `GGML_F32x{8,16}_REDUCE`.
    /// Returns the reduced sum and where the leftovers start.
    fn main_loop_4(x: &[f32], y: &[f32], l: usize) -> (f32, usize) {
        let np = x.len() / (4 * l) * (4 * l);
        let mut acc: [Vec<f32>; 4] = std::array::from_fn(|_| vec![0f32; l]);
        for i in (0..np).step_by(4 * l) {
            for (j, a) in acc.iter_mut().enumerate() {
                for (k, lane) in a.iter_mut().enumerate() {
                    let e = i + j * l + k;
                    *lane = x[e].mul_add(y[e], *lane);
                }
            }
        }
        let [a0, a1, a2, a3] = &mut acc;
        for (k, v) in a0.iter_mut().enumerate() {
            // Lane by lane: a0 += a2, a1 += a3, a0 += a1.
            a1[k] += a3[k];
            *v += a2[k];
            *v += a1[k];
        }
        let sum = if l == 8 { hadd8(a0) } else { reduce16(a0) };
        (sum, np)
    }

    /// `ggml_vec_dot_f32`: f32 `sumf`; the leftovers as GCC vectorises them (rounded products
    /// added in order, the last `count % 4` fused).
    fn ref_f32(b: FloatDotBuild, x: &[f32], y: &[f32]) -> f32 {
        let n = x.len();
        let (mut sum, np) = main_loop_4(x, y, lanes(b));
        let fused = np + (n - np) / 4 * 4;
        for i in np..fused {
            sum += x[i] * y[i];
        }
        for i in fused..n {
            sum = x[i].mul_add(y[i], sum);
        }
        sum
    }

    /// The f64 leftovers of the F16 and BF16 dots, then the cast.
    fn tail_f64(mut sum: f64, x: &[f32], y: &[f32], from: usize) -> f32 {
        for i in from..x.len() {
            sum += (x[i] * y[i]) as f64;
        }
        sum as f32
    }

    /// `ggml_vec_dot_f16` (values already widened).
    fn ref_f16(b: FloatDotBuild, x: &[f32], y: &[f32]) -> f32 {
        let (sum, np) = main_loop_4(x, y, lanes(b));
        tail_f64(sum as f64, x, y, np)
    }

    /// A denormal read as zero (same sign).
    fn daz(v: f32) -> f32 {
        if v.is_subnormal() {
            0f32.copysign(v)
        } else {
            v
        }
    }

    /// One `vdpbf16ps` lane: the odd pair element's product fused into `acc`, then the even
    /// one's, each rounded to nearest even; denormal inputs read as zero, denormal results
    /// flushed to zero (Intel SDM).
    fn dpbf16_lane(acc: f32, x: [f32; 2], y: [f32; 2]) -> f32 {
        let r = daz(daz(x[1]).mul_add(daz(y[1]), daz(acc)));
        daz(daz(x[0]).mul_add(daz(y[0]), r))
    }

    /// `ggml_vec_dot_bf16` in each build.
    fn ref_bf16(b: FloatDotBuild, x: &[f32], y: &[f32]) -> f32 {
        let n = x.len();
        match b {
            FloatDotBuild::Avx2 => {
                let np = n / 32 * 32;
                let mut c = [[0f32; 8]; 4];
                for i in (0..np).step_by(32) {
                    for (j, cj) in c.iter_mut().enumerate() {
                        for (k, lane) in cj.iter_mut().enumerate() {
                            let e = i + 8 * j + k;
                            *lane = x[e].mul_add(y[e], *lane);
                        }
                    }
                }
                let v: [f32; 8] =
                    std::array::from_fn(|k| (c[0][k] + c[2][k]) + (c[1][k] + c[3][k]));
                tail_f64(0.0 + halves8(&v) as f64, x, y, np)
            }
            FloatDotBuild::Avx512 => {
                let np = n / 32 * 32;
                let mut c = [[0f32; 16]; 2];
                for i in (0..np).step_by(32) {
                    for (j, cj) in c.iter_mut().enumerate() {
                        for (k, lane) in cj.iter_mut().enumerate() {
                            let e = i + 16 * j + k;
                            *lane = x[e].mul_add(y[e], *lane);
                        }
                    }
                }
                let sum = 0.0 + reduce16(&c[0]) as f64 + reduce16(&c[1]) as f64;
                tail_f64(sum, x, y, np)
            }
            FloatDotBuild::Avx512Bf16 => {
                let np = n / 64 * 64;
                let mut c = [[0f32; 16]; 2];
                for i in (0..np).step_by(64) {
                    for (j, cj) in c.iter_mut().enumerate() {
                        for (k, lane) in cj.iter_mut().enumerate() {
                            let e = i + 32 * j + 2 * k;
                            *lane = dpbf16_lane(*lane, [x[e], x[e + 1]], [y[e], y[e + 1]]);
                        }
                    }
                }
                let sum = 0.0 + reduce16(&c[0]) as f64 + reduce16(&c[1]) as f64;
                tail_f64(sum, x, y, np)
            }
        }
    }

    /// ggml's dot of weights `w` (decoded) with activations `a` (decoded) in build `b`.
    fn reference(b: FloatDotBuild, w: DType, x: &[f32], y: &[f32]) -> f32 {
        match w {
            DType::F32 => ref_f32(b, x, y),
            DType::F16 => ref_f16(b, x, y),
            _ => ref_bf16(b, x, y),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Data

    /// The stored bytes of `v` as weights of type `w` (F16 and BF16 rounded to nearest even).
    fn encode(w: DType, v: &[f32]) -> Vec<u8> {
        match w {
            DType::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            DType::F16 => v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
                .collect(),
            _ => v
                .iter()
                .flat_map(|x| half::bf16::from_f32(*x).to_bits().to_le_bytes())
                .collect(),
        }
    }

    /// `n` values for a row of type `w`. Modes: 0-2 uniform at scale 0.001, 1 or 30; 3 a wide
    /// spread of exponents; 4 tiny values (products that underflow; for F16 and BF16 some
    /// subnormals of the format) mixed with ordinary ones; 5 only tiny values, so that whole
    /// lanes stay near the smallest normals (where `vdpbf16ps` reads denormals as zero and
    /// flushes its results). Both signs throughout.
    fn values(w: DType, n: usize, mode: u8, rng: &mut TestRng) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let s = rng.signed();
                match mode {
                    0 => s * 1e-3,
                    1 => s,
                    2 => s * 30.0,
                    3 => {
                        let e = (rng.next_u64() % 25) as i32 - 12;
                        s * 2f32.powi(if w == DType::F16 { e } else { 2 * e })
                    }
                    4 => {
                        let tiny = match w {
                            DType::F16 => 2f32.powi(-20),
                            DType::BF16 => 2f32.powi(-128),
                            _ => 2f32.powi(-70),
                        };
                        match rng.next_u64() % 3 {
                            0 => s * tiny,
                            1 => s * tiny * 2f32.powi((rng.next_u64() % 16) as i32),
                            _ => s,
                        }
                    }
                    _ => {
                        let e = (rng.next_u64() % 21) as i32;
                        s * 2f32.powi(match w {
                            DType::F16 => -4 - e,
                            DType::BF16 => -110 - e,
                            _ => -60 - e,
                        })
                    }
                }
            })
            .collect()
    }

    /// Decodes a float weight or activation row.
    fn decode(w: DType, bytes: &[u8]) -> Vec<f32> {
        dequantize_act(act_type(w), bytes)
    }

    /// Equal bits, or both NaN.
    fn same_bits(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// `sum |x_i y_i|` over the terms where either factor is subnormal (what `vdpbf16ps` may
    /// drop), for the tolerance against the scalar twin.
    fn subnormal_terms(x: &[f32], y: &[f32]) -> f64 {
        x.iter()
            .zip(y)
            .filter(|(a, b)| a.is_subnormal() || b.is_subnormal())
            .map(|(a, b)| (*a as f64 * *b as f64).abs())
            .sum()
    }

    /// Checks every supported build, the dispatched dot and the scalar twin on one case.
    fn check(w: DType, row: &[u8], xq: &[u8]) -> Result<(), TestCaseError> {
        let (x, y) = (decode(w, row), decode(w, xq));
        let n = x.len();
        for b in FloatDotBuild::supported() {
            let want = reference(b, w, &x, &y);
            let got = dot_row_float(b, w, row, xq).expect("float type");
            prop_assert!(
                same_bits(got, want),
                "{} {} n={}: kernel {:e} ({:#010x}) vs ggml structure {:e} ({:#010x})",
                w,
                b.name(),
                n,
                got,
                got.to_bits(),
                want,
                want.to_bits()
            );
        }
        let dispatched = dot_row_act(w, row, xq);
        let scalar = dot_row_act_scalar(w, row, xq);
        match FloatDotBuild::for_level(active_level()) {
            Some(b) => {
                let want = reference(b, w, &x, &y);
                prop_assert!(
                    same_bits(dispatched, want),
                    "{} dispatched at {} ({}) n={}: {:e} vs {:e}",
                    w,
                    active_level().name(),
                    b.name(),
                    n,
                    dispatched,
                    want
                );
            }
            None => prop_assert!(same_bits(dispatched, scalar), "{} scalar level", w),
        }
        let scale = abs_dot(&x, &y);
        if scale.is_finite() && scale < 1e30 {
            let slack = subnormal_terms(&x, &y);
            for (what, v) in [("dispatched", dispatched)].into_iter().chain(
                FloatDotBuild::supported()
                    .into_iter()
                    .map(|b| (b.name(), dot_row_float(b, w, row, xq).unwrap())),
            ) {
                let diff = (v as f64 - scalar as f64).abs();
                prop_assert!(
                    v.is_finite() && diff <= DOT_REL_TOL * scale + slack + DOT_ABS_TOL,
                    "{} {} n={}: {:e} vs scalar {:e} (scale {:e})",
                    w,
                    what,
                    n,
                    v,
                    scalar,
                    scale
                );
            }
        }
        Ok(())
    }

    /// Lengths: often under one step or with a ragged tail, sometimes several steps.
    fn length() -> impl Strategy<Value = usize> {
        prop_oneof![0usize..40, 0usize..300, 0usize..1200]
    }

    proptest! {
        // Failing inputs are printed; no regression files are written into the source tree.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(1000) })]

        #[test]
        fn float_dots_follow_ggml_bit_for_bit(
            t in 0..FLOATS.len(),
            n in length(),
            wmode in 0u8..6,
            amode in 0u8..6,
            seed in any::<u64>(),
        ) {
            let w = FLOATS[t];
            let mut rng = TestRng::new(seed);
            let row = encode(w, &values(w, n, wmode, &mut rng));
            let mut xq = vec![0u8; act_bytes(w, n)];
            quantize_act(w, &values(w, n, amode, &mut rng), &mut xq);
            check(w, &row, &xq)?;
        }

        #[test]
        fn bf16_dots_with_any_bit_patterns(n in length(), seed in any::<u64>()) {
            // Arbitrary finite bf16 on both sides: subnormals, huge and tiny values, overflowing
            // and underflowing products.
            let mut rng = TestRng::new(seed);
            let mut pattern = || loop {
                let h = rng.next_u64() as u16;
                if h & 0x7F80 != 0x7F80 {
                    break h;
                }
            };
            let row: Vec<u8> = (0..n).flat_map(|_| pattern().to_le_bytes()).collect();
            let xq: Vec<u8> = (0..n).flat_map(|_| pattern().to_le_bytes()).collect();
            let (x, y) = (decode(DType::BF16, &row), decode(DType::BF16, &xq));
            for b in FloatDotBuild::supported() {
                let want = ref_bf16(b, &x, &y);
                let got = dot_row_float(b, DType::BF16, &row, &xq).unwrap();
                prop_assert!(same_bits(got, want), "{} n={}: {:e} vs {:e}", b.name(), n, got, want);
            }
        }
    }

    /// Nonzero elements of the weight row and of the activation row, and the expected dot.
    type Case = (Vec<(usize, f32)>, Vec<(usize, f32)>, f32);

    /// Rows of `n` BF16 values, zero except the given `(index, value)` pairs.
    fn bf16_rows(n: usize, x: &[(usize, f32)], y: &[(usize, f32)]) -> (Vec<u8>, Vec<u8>) {
        let fill = |pairs: &[(usize, f32)]| {
            let mut v = vec![0f32; n];
            for &(i, a) in pairs {
                v[i] = a;
            }
            encode(DType::BF16, &v)
        };
        (fill(x), fill(y))
    }

    #[test]
    fn dpbf16_lanes_take_the_odd_product_first_and_flush_denormals() {
        if !FloatDotBuild::Avx512Bf16.is_supported() {
            println!("note: CPU lacks AVX512-BF16, skipping the vdpbf16ps checks");
            return;
        }
        let p = |e: i32| 2f32.powi(e);
        let denormal = f32::from_bits(0x0001_0000); // the bf16 0x0001
                                                    // (x pairs, y pairs, want): lane 3 of the first accumulator (elements 6 and 7), over
                                                    // two steps of 64 where given (elements 64 + 6, 64 + 7).
        let cases: Vec<Case> = vec![
            // 1, then 2^24 (odd) before -2^24 (even): 1 + 2^24 rounds to 2^24, so 0. Adding
            // the even product first, or the pair exactly, would give 1.
            (
                vec![(6, 1.0), (71, p(24)), (70, -p(24))],
                vec![(6, 1.0), (71, 1.0), (70, 1.0)],
                0.0,
            ),
            // Each step rounds: 1 + 2^-24 + 2^-24 is 1 (exactly it would be 1 + 2^-23).
            (
                vec![(6, 1.0), (71, p(-12)), (70, p(-12))],
                vec![(6, 1.0), (71, p(-12)), (70, p(-12))],
                1.0,
            ),
            // A denormal input reads as zero.
            (vec![(7, denormal)], vec![(7, p(100))], 0.0),
            // A denormal result is flushed, also between the two products of a pair:
            // 1.5 * 2^-127 flushes before 2^-127 is added (together they would be normal).
            (vec![(7, p(-100))], vec![(7, p(-30))], 0.0),
            (
                vec![(7, 1.5 * p(-100)), (6, p(-100))],
                vec![(7, p(-27)), (6, p(-27))],
                0.0,
            ),
            // The product is not rounded or flushed on its own: 2^-125 + 2^-127 is exact.
            (
                vec![(6, p(-100)), (71, p(-100))],
                vec![(6, p(-25)), (71, p(-27))],
                1.25 * p(-125),
            ),
        ];
        for (k, (xs, ys, want)) in cases.iter().enumerate() {
            let (row, xq) = bf16_rows(128, xs, ys);
            let (x, y) = (decode(DType::BF16, &row), decode(DType::BF16, &xq));
            let emulated = ref_bf16(FloatDotBuild::Avx512Bf16, &x, &y);
            let got = dot_row_float(FloatDotBuild::Avx512Bf16, DType::BF16, &row, &xq).unwrap();
            assert_eq!(
                emulated.to_bits(),
                want.to_bits(),
                "case {k}: emulation {emulated:e}"
            );
            assert_eq!(got.to_bits(), want.to_bits(), "case {k}: vdpbf16ps {got:e}");
        }
    }

    #[test]
    fn the_builds_are_told_apart() {
        // The references of different builds differ on ordinary data, so matching one of them
        // bit for bit says which order a kernel uses.
        let mut rng = TestRng::new(7);
        let mut differ = [0usize; 3];
        for _ in 0..50 {
            for (k, (w, a, b)) in [
                (DType::F32, FloatDotBuild::Avx2, FloatDotBuild::Avx512),
                (DType::F16, FloatDotBuild::Avx2, FloatDotBuild::Avx512),
                (
                    DType::BF16,
                    FloatDotBuild::Avx512,
                    FloatDotBuild::Avx512Bf16,
                ),
            ]
            .into_iter()
            .enumerate()
            {
                let x = decode(w, &encode(w, &values(w, 200, 2, &mut rng)));
                let y = decode(w, &encode(w, &values(w, 200, 1, &mut rng)));
                differ[k] += usize::from(
                    reference(a, w, &x, &y).to_bits() != reference(b, w, &x, &y).to_bits(),
                );
            }
        }
        assert!(differ.iter().all(|&d| d >= 10), "{differ:?} of 50 differ");
    }

    #[test]
    fn float_dots_match_the_ggml_fixture() {
        // The fixture's vec_dot results come from llama-cpp-python's library built with
        // -march=native; its build is named by the CPU features it printed.
        let doc = load_json("act_quant_ggml.json");
        let features = doc["cpu_features"].as_str().expect("cpu_features");
        let build = if features.contains("AVX512_BF16 = 1") {
            FloatDotBuild::Avx512Bf16
        } else if features.contains("AVX512 = 1") {
            FloatDotBuild::Avx512
        } else {
            FloatDotBuild::Avx2
        };
        if !build.is_supported() {
            println!(
                "note: this CPU cannot run the fixture's build {}",
                build.name()
            );
            return;
        }
        let mut quantized = std::collections::HashMap::new();
        for q in doc["quantized"].as_array().expect("quantized") {
            let key = (
                q["act_type"].as_str().expect("act_type").to_string(),
                q["activation"].as_u64().expect("activation"),
            );
            quantized.insert(key, unhex(q["hex"].as_str().expect("hex")));
        }
        let mut checked = 0;
        for case in doc["dots"].as_array().expect("dots") {
            let w = dtype_named(case["type"].as_str().expect("type"));
            if !FLOATS.contains(&w) {
                continue;
            }
            let row = unhex(case["row_hex"].as_str().expect("row_hex"));
            let key = (
                act_type(w).name().to_string(),
                case["activation"].as_u64().unwrap(),
            );
            let xq = &quantized[&key];
            let want =
                u32::from_str_radix(case["result_bits"].as_str().expect("bits"), 16).unwrap();
            let got = dot_row_float(build, w, &row, xq).expect("float type");
            assert_eq!(
                got.to_bits(),
                want,
                "{w} {} ({}): {got:e} vs ggml {:e}",
                build.name(),
                case["weights"],
                f32::from_bits(want)
            );
            checked += 1;
        }
        println!(
            "{checked} float dots bit-identical to ggml's {} build",
            build.name()
        );
        assert!(
            checked >= 3 * 8,
            "only {checked} float cases in the fixture"
        );
    }

    #[test]
    fn float_dot_is_none_for_quantized_types() {
        if !FloatDotBuild::Avx2.is_supported() {
            return;
        }
        let row = vec![0u8; DType::Q8_0.block_bytes()];
        let xq = vec![0u8; act_bytes(DType::Q8_0, 32)];
        assert_eq!(
            dot_row_float(FloatDotBuild::Avx2, DType::Q8_0, &row, &xq),
            None
        );
    }

    #[test]
    #[should_panic(expected = "dot_row_float")]
    fn float_dot_rejects_mismatched_lengths() {
        dot_row_float(FloatDotBuild::Avx2, DType::F32, &[0u8; 8], &[0u8; 12]);
    }

    #[test]
    fn levels_name_their_builds() {
        use gemma_kernels::KernelLevel;
        assert_eq!(FloatDotBuild::for_level(KernelLevel::Scalar), None);
        assert_eq!(
            FloatDotBuild::for_level(KernelLevel::Avx2Fma),
            Some(FloatDotBuild::Avx2)
        );
        let wide = FloatDotBuild::for_level(KernelLevel::Avx512).unwrap();
        assert_eq!(
            wide == FloatDotBuild::Avx512Bf16,
            FloatDotBuild::Avx512Bf16.is_supported()
        );
        println!(
            "float dot builds on this CPU: {:?}",
            FloatDotBuild::supported()
        );
    }
}
