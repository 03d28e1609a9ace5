//! Rough throughput of the row dots for the default model's weight types: f32-activation
//! `dot_row` against activation-quantized `dot_row_act` (quantization included), scalar
//! and dispatched. Run: `cargo run -p gemma-kernels --release --example act_speed`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{random_activations, random_row, TestRng};
use gemma_kernels::{
    act_bytes, dot_row, dot_row_act, dot_row_act_scalar, dot_row_scalar, kernel_level,
    quantize_act, quantize_act_scalar, DType,
};

/// Weights per second (in G) of `f`, which processes `weights` weights per call.
fn rate(weights: usize, mut f: impl FnMut() -> f32) -> f64 {
    let mut calls = 0usize;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 0.4 {
        black_box(f());
        calls += 1;
    }
    (calls * weights) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    println!("kernel level: {}", kernel_level());
    println!(
        "{:<6} {:>5}x{:<5} {:>10} {:>10} {:>12} {:>12}   (G weights/s)",
        "type", "rows", "n", "dot_row", "dot_row/sc", "dot_row_act", "act/scalar"
    );
    for (w, rows, n) in [
        (DType::Q8_0, 1024, 640),
        (DType::Q5_0, 2048, 640),
        (DType::Q4_K, 640, 1024),
        (DType::Q6_K, 640, 2048),
    ] {
        let mut rng = TestRng::new(7);
        let mat: Vec<Vec<u8>> = (0..rows).map(|_| random_row(w, n, &mut rng)).collect();
        let x = random_activations(n, &mut rng);
        let mut xq = vec![0u8; act_bytes(w, n)];
        let total = rows * n;
        let f32_fast = rate(total, || mat.iter().map(|r| dot_row(w, r, &x)).sum());
        let f32_scalar = rate(total, || mat.iter().map(|r| dot_row_scalar(w, r, &x)).sum());
        let act_fast = rate(total, || {
            quantize_act(w, &x, &mut xq);
            mat.iter().map(|r| dot_row_act(w, r, &xq)).sum()
        });
        let act_scalar = rate(total, || {
            quantize_act_scalar(w, &x, &mut xq);
            mat.iter().map(|r| dot_row_act_scalar(w, r, &xq)).sum()
        });
        println!(
            "{:<6} {:>5}x{:<5} {:>10.2} {:>10.2} {:>12.2} {:>12.2}",
            w.name(),
            rows,
            n,
            f32_fast,
            f32_scalar,
            act_fast,
            act_scalar
        );
    }
}
