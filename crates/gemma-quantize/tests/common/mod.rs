//! Shared test helpers: synthetic Hugging Face Gemma folders (config.json, safetensors with
//! deterministic pseudo-random weights, a small BPE tokenizer) and the Python with llama.cpp.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gemma_formats::{DType, SafetensorsWriter};

/// Sizes of a synthetic model.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// hidden_size.
    pub hidden: usize,
    /// intermediate_size.
    pub inter: usize,
    /// num_hidden_layers.
    pub layers: usize,
    /// num_attention_heads.
    pub heads: usize,
    /// num_key_value_heads.
    pub kv_heads: usize,
    /// head_dim.
    pub head_dim: usize,
}

/// K-quant friendly: every row a multiple of 256.
pub const DIMS_256: Dims = Dims {
    hidden: 256,
    inter: 512,
    layers: 2,
    heads: 2,
    kv_heads: 1,
    head_dim: 256,
};

/// Hidden size not a multiple of 256 (fallbacks), but of 32.
pub const DIMS_ODD: Dims = Dims {
    hidden: 288,
    inter: 576,
    layers: 3,
    heads: 3,
    kv_heads: 1,
    head_dim: 96,
};

/// splitmix64.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Roughly normal (sum of 4 uniforms, centred, unit variance).
    pub fn normal(&mut self) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * 1.732
    }
}

/// bf16 bits of `v` (round to nearest even).
pub fn bf16(v: f32) -> u16 {
    let u = v.to_bits();
    (u.wrapping_add(0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

/// The synthetic tokenizer: specials, 256 byte pieces, characters, merges.
pub struct Tok {
    /// Pieces by id.
    pub pieces: Vec<String>,
    /// Merges in rank order.
    pub merges: Vec<(String, String)>,
}

/// Builds a 512-piece BPE vocabulary: `<pad> <eos> <bos> <unk> <start_of_turn>
/// <end_of_turn> <mask>`, `<0x00>`..`<0xFF>`, single characters, then merges of words.
pub fn synthetic_tokenizer() -> Tok {
    let mut pieces: Vec<String> = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<mask>",
    ]
    .map(String::from)
    .to_vec();
    pieces.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    let chars = "▁abcdefghijklmnopqrstuvwxyzTHEAIWS.,!?'0123456789\n";
    pieces.extend(chars.chars().map(|c| c.to_string()));
    let words = [
        "the", "and", "of", "to", "in", "is", "that", "it", "was", "for", "on", "are", "with",
        "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "word",
        "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up",
        "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "time", "if",
        "will", "way", "about", "many", "then", "them", "write", "would", "like", "so", "these",
        "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day", "could",
        "go", "come", "did", "number", "sound", "no", "most", "people", "my", "over", "know",
        "water", "than", "call", "first", "who", "may", "down", "side", "been", "now", "find",
        "quick", "brown", "fox", "jumps", "lazy", "dog", "hello", "world", "token", "model",
        "gemma",
    ];
    let mut merges = Vec::new();
    let mut known: std::collections::HashSet<String> = pieces.iter().cloned().collect();
    'outer: for (round, w) in words.iter().cycle().take(words.len() * 2).enumerate() {
        // First pass: "▁word"; second pass: "word" without the space marker.
        let w: String = if round < words.len() {
            format!("▁{w}")
        } else {
            w.to_string()
        };
        let cs: Vec<char> = w.chars().collect();
        let mut acc = cs[0].to_string();
        for c in &cs[1..] {
            let next = format!("{acc}{c}");
            if !known.contains(&next) {
                if pieces.len() >= 512 {
                    break 'outer;
                }
                merges.push((acc.clone(), c.to_string()));
                known.insert(next.clone());
                pieces.push(next.clone());
            }
            acc = next;
        }
    }
    let mut k = 0u32;
    while pieces.len() < 512 {
        pieces.push(format!("<unused{k}>"));
        k += 1;
    }
    Tok { pieces, merges }
}

/// Writes tokenizer.json and tokenizer_config.json for `tok` into `dir`.
pub fn write_tokenizer(dir: &Path, tok: &Tok) {
    let vocab: serde_json::Map<String, serde_json::Value> = tok
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.starts_with("<unused"))
        .map(|(i, p)| (p.clone(), serde_json::json!(i)))
        .collect();
    let special = |p: &str| p.starts_with('<') && p.ends_with('>') && !p.starts_with("<0x");
    let added: Vec<serde_json::Value> = tok
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| special(p))
        .map(|(i, p)| {
            serde_json::json!({"id": i, "content": p, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": i < 4})
        })
        .collect();
    let merges: Vec<serde_json::Value> = tok
        .merges
        .iter()
        .map(|(a, b)| serde_json::json!([a, b]))
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
            "byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges},
    });
    std::fs::write(dir.join("tokenizer.json"), json.to_string()).expect("tokenizer.json");
    let cfg = serde_json::json!({
        "add_bos_token": true, "add_eos_token": false, "bos_token": "<bos>",
        "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>",
        "chat_template": "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}",
    });
    std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).expect("config");
}

/// config.json text of a Gemma 3 text model with `d` and `vocab` tokens.
pub fn gemma3_config(d: Dims, vocab: usize) -> String {
    serde_json::json!({
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": d.hidden,
        "intermediate_size": d.inter,
        "num_hidden_layers": d.layers,
        "num_attention_heads": d.heads,
        "num_key_value_heads": d.kv_heads,
        "head_dim": d.head_dim,
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "sliding_window": 128,
        "sliding_window_pattern": 6,
        "query_pre_attn_scalar": d.head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "bos_token_id": 2,
        "eos_token_id": 1,
        "pad_token_id": 0,
        "torch_dtype": "bfloat16",
    })
    .to_string()
}

/// The checkpoint tensors (HF name, safetensors shape) of a Gemma 3 model.
pub fn gemma3_tensors(d: Dims, vocab: usize) -> Vec<(String, Vec<u64>)> {
    let (h, ff, hd) = (d.hidden as u64, d.inter as u64, d.head_dim as u64);
    let (q, kv) = (d.heads as u64 * hd, d.kv_heads as u64 * hd);
    let mut t = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![vocab as u64, h],
    )];
    for i in 0..d.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.extend([
            (p("input_layernorm.weight"), vec![h]),
            (p("self_attn.q_proj.weight"), vec![q, h]),
            (p("self_attn.k_proj.weight"), vec![kv, h]),
            (p("self_attn.v_proj.weight"), vec![kv, h]),
            (p("self_attn.o_proj.weight"), vec![h, q]),
            (p("self_attn.q_norm.weight"), vec![hd]),
            (p("self_attn.k_norm.weight"), vec![hd]),
            (p("post_attention_layernorm.weight"), vec![h]),
            (p("pre_feedforward_layernorm.weight"), vec![h]),
            (p("post_feedforward_layernorm.weight"), vec![h]),
            (p("mlp.gate_proj.weight"), vec![ff, h]),
            (p("mlp.up_proj.weight"), vec![ff, h]),
            (p("mlp.down_proj.weight"), vec![h, ff]),
        ]);
    }
    t.push(("model.norm.weight".to_string(), vec![h]));
    t
}

/// Deterministic weights of a tensor (f32, then stored as bf16): norms small around 0
/// (transformers' `w`, GGUF gets `1 + w`), embeddings unit scale, projections scaled by
/// `1/sqrt(fan_in)`.
pub fn weights(name: &str, shape: &[u64], seed: u64) -> Vec<f32> {
    let n: u64 = shape.iter().product();
    let mut rng = Rng::new(
        seed ^ name
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31) ^ b as u64),
    );
    if name.contains("post_") {
        // Post-norms scale each block's output: large enough that the blocks, not the
        // embedding of the last token, decide the next token.
        return (0..n).map(|_| 150.0 + 15.0 * rng.normal()).collect();
    }
    let scale = if name.contains("norm") {
        0.1
    } else if name.contains("embed") {
        1.0
    } else {
        1.0 / (shape[1] as f32).sqrt()
    };
    (0..n).map(|_| rng.normal() * scale).collect()
}

/// Writes a Gemma 3 folder with `d` into `dir`, BF16 weights, the synthetic tokenizer.
/// Returns the f32 weights (before bf16 rounding is applied, so compare with tolerance) by name.
pub fn write_gemma3_folder(dir: &Path, d: Dims, seed: u64) -> Vec<(String, Vec<u64>, Vec<f32>)> {
    let tok = synthetic_tokenizer();
    let vocab = tok.pieces.len();
    std::fs::write(dir.join("config.json"), gemma3_config(d, vocab)).expect("config.json");
    write_tokenizer(dir, &tok);
    let mut w = SafetensorsWriter::new();
    let mut all = Vec::new();
    for (name, shape) in gemma3_tensors(d, vocab) {
        let v = weights(&name, &shape, seed);
        let bytes: Vec<u8> = v.iter().flat_map(|x| bf16(*x).to_le_bytes()).collect();
        w.add(&name, DType::BF16, &shape, &bytes);
        let rounded: Vec<f32> = v
            .iter()
            .map(|x| f32::from_bits((bf16(*x) as u32) << 16))
            .collect();
        all.push((name, shape, rounded));
    }
    w.write_to(&dir.join("model.safetensors"))
        .expect("safetensors");
    all
}

/// A Python that can import `llama_cpp`: `$GEMMA_PYTHON`, else the reference venv.
pub fn llama_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GEMMA_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/gemma-rs/venv-ref/bin/python")),
        Some(PathBuf::from("/root/.cache/gemma-rs/venv-ref/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import llama_cpp"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// `scripts/NAME` in the repository.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}
