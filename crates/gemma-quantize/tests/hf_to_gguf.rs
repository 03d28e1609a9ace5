//! Hugging Face folder → GGUF: synthetic Gemma 3 folders (built here) quantized to every
//! file type, reopened with `GgufFile`; types against llama.cpp's rules worked by hand,
//! metadata against config.json, weights against the originals, errors for bad inputs.

mod common;

use common::*;
use gemma_formats::names::{arch, general, tokenizer};
use gemma_formats::{DType, GgufFile, SafetensorsWriter};
use gemma_kernels::dequantize_row;
use gemma_model::ModelConfig;
use gemma_quantize::{quantize, FileType, NoProgress, Options, QuantizeError};
use std::path::Path;

fn run(
    input: &Path,
    output: &Path,
    ftype: FileType,
) -> Result<gemma_quantize::Summary, QuantizeError> {
    let mut o = Options::new(ftype);
    o.threads = 2;
    quantize(input, output, &o, &mut NoProgress)
}

fn dequantized(file: &GgufFile, name: &str) -> Vec<f32> {
    let t = file.tensor(name).unwrap_or_else(|| panic!("tensor {name}"));
    let mut out = vec![0f32; t.n_elements as usize];
    let row = t.dims[0] as usize;
    for (o, r) in out
        .chunks_mut(row)
        .zip(file.tensor_data(t).chunks(t.row_bytes() as usize))
    {
        dequantize_row(t.dtype, r, o);
    }
    out
}

/// RMS of (a - b) relative to RMS of b.
fn rel_rms(a: &[f32], b: &[f32]) -> f64 {
    let (mut e, mut s) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        e += ((x - y) as f64).powi(2);
        s += (*y as f64).powi(2);
    }
    (e / s.max(1e-30)).sqrt()
}

/// Relative RMS error allowed for weights of `t` (roughly 2x what Gaussian data gives).
fn rms_bound(t: DType) -> f64 {
    match t {
        DType::F32 => 0.0,
        DType::F16 => 1e-3,
        DType::BF16 => 0.0, // the checkpoint is BF16: exact
        DType::Q8_0 => 0.01,
        DType::Q6_K => 0.02,
        DType::Q5_0 | DType::Q5_1 | DType::Q5_K => 0.06,
        DType::Q4_0 | DType::Q4_1 | DType::Q4_K => 0.12,
        DType::Q3_K => 0.25,
        DType::Q2_K => 0.5,
        DType::IQ4_NL => 0.12,
    }
}

fn gguf_name(hf: &str) -> String {
    if hf == "model.embed_tokens.weight" {
        return "token_embd.weight".into();
    }
    if hf == "model.norm.weight" {
        return "output_norm.weight".into();
    }
    let rest = hf.strip_prefix("model.layers.").expect("layer tensor");
    let (i, suffix) = rest.split_once('.').expect("index");
    let g = gemma_formats::names::hf::BLOCK_COMMON
        .iter()
        .chain(&gemma_formats::names::hf::BLOCK_PRE_POST)
        .find(|(h, _)| *h == suffix)
        .map(|(_, g)| *g)
        .expect("known suffix");
    format!("blk.{i}.{g}")
}

#[test]
fn every_file_type_from_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-gemma3");
    std::fs::create_dir(&model).unwrap();
    let originals = write_gemma3_folder(&model, DIMS_256, 7);
    let cfg_text = std::fs::read_to_string(model.join("config.json")).unwrap();
    let want_cfg = ModelConfig::from_hf_json(&cfg_text).unwrap();
    for ftype in FileType::ALL {
        let out = dir.path().join(format!("{ftype}.gguf"));
        let summary = run(&model, &out, ftype).unwrap_or_else(|e| panic!("{ftype}: {e}"));
        let file = GgufFile::open(&out).unwrap();
        assert_eq!(
            file.get_u32(general::FILE_TYPE).unwrap(),
            Some(ftype.llama_ftype())
        );
        assert_eq!(
            file.get_u32(general::QUANTIZATION_VERSION).unwrap(),
            Some(2)
        );
        assert_eq!(file.get_str(general::ARCHITECTURE).unwrap(), Some("gemma3"));
        assert_eq!(summary.n_tensors, originals.len());
        let cfg = ModelConfig::from_gguf(&file).unwrap();
        assert_eq!(cfg, want_cfg, "{ftype}: configuration read back");
        for (hf, shape, w) in &originals {
            let name = gguf_name(hf);
            let t = file.tensor(&name).unwrap();
            let dims: Vec<u64> = shape.iter().rev().copied().collect();
            assert_eq!(t.dims, dims, "{name}");
            let got = dequantized(&file, &name);
            if shape.len() == 1 {
                // Norms: F32, exactly 1 + w.
                assert_eq!(t.dtype, DType::F32, "{ftype} {name}");
                for (g, x) in got.iter().zip(w) {
                    assert_eq!(*g, 1.0 + x, "{name}");
                }
            } else {
                let err = rel_rms(&got, w);
                assert!(
                    err <= rms_bound(t.dtype),
                    "{ftype} {name} {}: rel RMS {err}",
                    t.dtype
                );
            }
        }
        // Types by llama.cpp's rules (2 layers: use_more_bits(i, 2) is true for i = 1 only).
        let ty = |n: &str| file.tensor(n).unwrap().dtype;
        let expect = |n: &str, t: DType| assert_eq!(ty(n), t, "{ftype} {n}");
        match ftype {
            FileType::Q4_K_M => {
                expect("token_embd.weight", DType::Q6_K);
                expect("blk.0.attn_v.weight", DType::Q4_K);
                expect("blk.1.attn_v.weight", DType::Q6_K);
                expect("blk.0.ffn_down.weight", DType::Q4_K);
                expect("blk.1.ffn_down.weight", DType::Q6_K);
                expect("blk.0.attn_q.weight", DType::Q4_K);
            }
            FileType::Q5_K_M => {
                expect("token_embd.weight", DType::Q6_K);
                expect("blk.1.attn_v.weight", DType::Q6_K);
                expect("blk.0.ffn_gate.weight", DType::Q5_K);
            }
            FileType::Q4_K_S => {
                expect("blk.0.attn_v.weight", DType::Q5_K);
                expect("blk.1.attn_v.weight", DType::Q5_K);
                expect("blk.0.ffn_down.weight", DType::Q4_K);
            }
            FileType::Q3_K_M => {
                expect("blk.0.attn_v.weight", DType::Q5_K);
                expect("blk.0.attn_output.weight", DType::Q4_K);
                expect("blk.0.ffn_down.weight", DType::Q4_K);
                expect("blk.0.ffn_up.weight", DType::Q3_K);
            }
            FileType::Q2_K => {
                // n_gqa = 2 < 4: attn_v gets Q3_K.
                expect("blk.0.attn_v.weight", DType::Q3_K);
                expect("blk.0.ffn_down.weight", DType::Q3_K);
                expect("blk.0.ffn_up.weight", DType::Q2_K);
            }
            FileType::Q8_0 => expect("token_embd.weight", DType::Q8_0),
            FileType::Q4_0 => expect("token_embd.weight", DType::Q6_K),
            FileType::F16 => expect("token_embd.weight", DType::F16),
            FileType::BF16 => expect("blk.0.ffn_up.weight", DType::BF16),
            _ => {}
        }
        // Tokenizer metadata.
        assert_eq!(file.get_str(tokenizer::MODEL).unwrap(), Some("llama"));
        let tokens = file.get_str_array(tokenizer::TOKENS).unwrap().unwrap();
        assert_eq!(tokens.len(), 512);
        assert_eq!(tokens[5], "<end_of_turn>");
        assert_eq!(file.get_u32(tokenizer::BOS_ID).unwrap(), Some(2));
        assert_eq!(file.get_u32(tokenizer::EOS_ID).unwrap(), Some(1));
        assert_eq!(file.get_bool(tokenizer::ADD_BOS).unwrap(), Some(true));
        assert!(file
            .get_str(tokenizer::CHAT_TEMPLATE)
            .unwrap()
            .unwrap()
            .contains("<start_of_turn>"));
    }
}

#[test]
fn rows_that_do_not_fill_k_blocks_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("odd");
    std::fs::create_dir(&model).unwrap();
    write_gemma3_folder(&model, DIMS_ODD, 11);
    let cases = [
        (FileType::Q4_K_M, DType::Q5_0, DType::Q8_0),
        (FileType::Q5_K_S, DType::Q5_1, DType::Q8_0),
        (FileType::Q6_K, DType::Q8_0, DType::Q8_0),
        (FileType::Q3_K_S, DType::Q4_0, DType::Q8_0),
        (FileType::Q4_0, DType::Q4_0, DType::Q8_0),
    ];
    for (ftype, attn_q, embd) in cases {
        let out = dir.path().join(format!("{ftype}.gguf"));
        run(&model, &out, ftype).unwrap();
        let file = GgufFile::open(&out).unwrap();
        let ty = |n: &str| file.tensor(n).unwrap().dtype;
        assert_eq!(ty("blk.0.attn_q.weight"), attn_q, "{ftype}");
        assert_eq!(ty("token_embd.weight"), embd, "{ftype}");
        let k = file.get_u32(&gemma_formats::names::arch_key("gemma3", arch::KEY_LENGTH));
        assert_eq!(k.unwrap(), Some(96));
        ModelConfig::from_gguf(&file).unwrap();
    }
}

#[test]
fn gguf_to_gguf_equals_folder_to_gguf() {
    // F32 GGUF of the folder, then Q8_0 / Q4_K_M from it, equals Q8_0 / Q4_K_M from the
    // folder directly (BF16 weights and 1 + w norms are exact in F32).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    std::fs::create_dir(&model).unwrap();
    write_gemma3_folder(&model, DIMS_256, 3);
    let f32_path = dir.path().join("f32.gguf");
    run(&model, &f32_path, FileType::F32).unwrap();
    for ftype in [FileType::Q8_0, FileType::Q4_K_M] {
        let a = dir.path().join("a.gguf");
        let b = dir.path().join("b.gguf");
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
        run(&model, &a, ftype).unwrap();
        run(&f32_path, &b, ftype).unwrap();
        let (fa, fb) = (GgufFile::open(&a).unwrap(), GgufFile::open(&b).unwrap());
        assert_eq!(fa.metadata(), fb.metadata());
        for t in fa.tensors() {
            let u = fb.tensor(&t.name).unwrap();
            assert_eq!((t.dtype, &t.dims), (u.dtype, &u.dims), "{}", t.name);
            assert!(fa.tensor_data(t) == fb.tensor_data(u), "{ftype} {}", t.name);
        }
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    std::fs::create_dir(&model).unwrap();
    write_gemma3_folder(&model, DIMS_256, 5);
    let out = dir.path().join("out.gguf");

    // Existing output without --force, then with.
    std::fs::write(&out, b"keep me").unwrap();
    assert!(matches!(
        run(&model, &out, FileType::Q8_0),
        Err(QuantizeError::OutputExists(_))
    ));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let mut o = Options::new(FileType::Q8_0);
    o.force = true;
    quantize(&model, &out, &o, &mut NoProgress).unwrap();
    GgufFile::open(&out).unwrap();

    // Output equal to the input.
    assert!(matches!(
        run(&out, &out, FileType::Q8_0),
        Err(QuantizeError::SameFile(_))
    ));
    // Unknown type names are rejected by the parser the CLI uses.
    assert_eq!(FileType::parse("Q7_K"), None);
    // Not a model.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"nope").unwrap();
    let o2 = dir.path().join("o2.gguf");
    assert!(matches!(
        run(&junk, &o2, FileType::Q8_0),
        Err(QuantizeError::NotAModel(_))
    ));
    // Output folder missing: an I/O error and no file.
    let deep = dir.path().join("no/such/dir/x.gguf");
    assert!(matches!(
        run(&model, &deep, FileType::Q8_0),
        Err(QuantizeError::Io { .. })
    ));

    // Malformed and incomplete config.json.
    let cfg = model.join("config.json");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, "{ not json").unwrap();
    assert!(matches!(
        run(&model, &o2, FileType::Q8_0),
        Err(QuantizeError::Config { .. })
    ));
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(&cfg, v.to_string()).unwrap();
    let e = run(&model, &o2, FileType::Q8_0).unwrap_err();
    assert!(e.to_string().contains("hidden_size"), "{e}");
    // A shape that disagrees with config.json.
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["intermediate_size"] = 768.into();
    std::fs::write(&cfg, v.to_string()).unwrap();
    let e = run(&model, &o2, FileType::Q8_0).unwrap_err();
    assert!(matches!(e, QuantizeError::Shape { .. }), "{e}");
    assert!(e.to_string().contains("mlp"), "{e}");
    std::fs::write(&cfg, &good).unwrap();

    // A missing tensor, and an unexpected one.
    let tok = synthetic_tokenizer();
    let mut w = SafetensorsWriter::new();
    for (name, shape) in gemma3_tensors(DIMS_256, tok.pieces.len()) {
        if name.ends_with("layers.1.mlp.up_proj.weight") {
            continue;
        }
        let n: u64 = shape.iter().product();
        w.add_f32(&name, &shape, &vec![0.5; n as usize]);
    }
    w.write_to(&model.join("model.safetensors")).unwrap();
    let e = run(&model, &o2, FileType::Q8_0).unwrap_err();
    assert!(matches!(e, QuantizeError::MissingTensor { .. }), "{e}");
    w.add_f32(
        "model.layers.1.mlp.up_proj.weight",
        &[512, 256],
        &vec![0.0; 512 * 256],
    );
    w.add_f32("model.extra.weight", &[4], &[0.0; 4]);
    w.write_to(&model.join("model.safetensors")).unwrap();
    let e = run(&model, &o2, FileType::Q8_0).unwrap_err();
    assert!(matches!(e, QuantizeError::UnexpectedTensor(_)), "{e}");

    // A tokenizer that is not BPE/Unigram.
    std::fs::write(model.join("model.safetensors"), b"").unwrap();
    let e = run(&model, &o2, FileType::Q8_0).unwrap_err();
    assert!(matches!(e, QuantizeError::Safetensors(_)), "{e}");
    assert!(!o2.exists());
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("gemma-quantize"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
