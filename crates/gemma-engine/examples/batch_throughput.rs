//! Aggregate generation speed of the continuous batcher with 1, 4 and 16 concurrent requests
//! on the default model: `cargo run --release -p gemma-engine --example batch_throughput
//! [-- TOKENS_PER_REQUEST [THREADS]]`.
//!
//! Every request is a different short prompt generating a fixed number of tokens greedily; the
//! figure is generated tokens over wall time, all requests together.

use std::time::Instant;

use gemma_engine::{BatchEvent, Batcher, GenerateOptions, LoadedModel, SamplerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(64, |a| a.parse().expect("tokens per request"));
    let threads: usize = args.next().map_or_else(gemma_engine::default_threads, |a| {
        a.parse().expect("threads")
    });
    let path = gemma_hub::ensure_default_model(false).expect("default model");
    let model = LoadedModel::load(&path).expect("load");
    println!("| concurrent requests | generated tokens | seconds | aggregate tokens/s |");
    println!("|---:|---:|---:|---:|");
    for clients in [1usize, 4, 16] {
        let batcher = Batcher::start(model.clone(), 512, threads, clients, clients);
        let opts = GenerateOptions {
            max_tokens: n,
            sampler: SamplerConfig::greedy(),
            stop_at_eog: false,
            ..GenerateOptions::default()
        };
        let t0 = Instant::now();
        let streams: Vec<_> = (0..clients)
            .map(|i| {
                let prompt = model
                    .tokenize(&format!("Story number {i}: once upon a time"), true)
                    .expect("tokenize");
                batcher.submit(prompt, opts.clone()).expect("submit")
            })
            .collect();
        let mut total = 0;
        for s in streams {
            for ev in s {
                match ev {
                    BatchEvent::Done { tokens, .. } => total += tokens.len(),
                    BatchEvent::Error(e) => panic!("{e}"),
                    BatchEvent::Token { .. } | BatchEvent::Prompt { .. } => {}
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "| {clients} | {total} | {secs:.2} | {:.1} |",
            total as f64 / secs
        );
    }
}
