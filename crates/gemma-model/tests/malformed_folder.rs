//! Malformed Hugging Face model folders given to `Model::from_hf_folder`: every broken
//! `config.json` or safetensors checkpoint is an error that names the file and the field or
//! tensor at fault, and nothing panics.
//!
//! The folders are copies of the conformance fixtures in
//! `crates/gemma-engine/tests/data/conformance/` (`gemma3-window-5to1`: one `model.safetensors`;
//! `gemma1-mqa`: three shards and an index), each case mutating one thing; the unmutated copies
//! load.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use gemma_model::Model;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SINGLE: &str = "gemma3-window-5to1";
const SHARDED: &str = "gemma1-mqa";
const INDEX: &str = "model.safetensors.index.json";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-engine/tests/data/conformance")
        .join(name)
}

/// `Model::from_hf_folder`, failing the test if it panics (the panic's message is printed).
fn load(dir: &Path) -> Result<Model, String> {
    catch_unwind(AssertUnwindSafe(|| Model::from_hf_folder(dir)))
        .unwrap_or_else(|_| panic!("from_hf_folder panicked on {}", dir.display()))
        .map_err(|e| e.to_string())
}

/// The error of loading `dir`, asserting its message contains every one of `needles`.
fn load_err(dir: &Path, needles: &[&str]) -> String {
    let Err(msg) = load(dir) else {
        panic!(
            "{} loaded; expected an error naming {needles:?}",
            dir.display()
        )
    };
    for n in needles {
        assert!(msg.contains(n), "error lacks {n:?}: {msg}");
    }
    msg
}

/// A temp copy of a fixture's model files (`config.json` and the checkpoint), with the
/// original config at hand for edits.
struct Folder {
    dir: tempfile::TempDir,
    config: Map<String, Value>,
}

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(fixture(name)).unwrap() {
            let p = entry.unwrap().path();
            let f = p.file_name().unwrap().to_str().unwrap().to_string();
            if f == "config.json" || f.starts_with("model") {
                std::fs::copy(&p, dir.path().join(&f)).unwrap();
            }
        }
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let config = serde_json::from_str(&text).unwrap();
        Folder { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the original `config.json` edited by `edit`; returns the folder.
    fn config(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> &Path {
        let mut cfg = self.config.clone();
        edit(&mut cfg);
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        std::fs::write(self.file("config.json"), text).unwrap();
        self.path()
    }

    /// Asserts that `field` set to `value` fails, naming the file, the field and what was
    /// expected.
    fn field_err(&self, field: &str, value: Value) -> String {
        load_err(self.set(field, value), &["config.json", field, "expected"])
    }

    /// Writes the original `config.json` with `field` set to `value`; returns the folder.
    fn set(&self, field: &str, value: Value) -> &Path {
        self.config(|c| _ = c.insert(field.into(), value))
    }
}

#[test]
fn unmutated_fixtures_load() {
    for name in [SINGLE, SHARDED] {
        let f = Folder::new(name);
        load(f.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn config_missing_empty_or_not_an_object() {
    let f = Folder::new(SINGLE);
    let cfg = f.file("config.json");
    std::fs::remove_file(&cfg).unwrap();
    load_err(f.path(), &["config.json", "cannot read"]);
    std::fs::create_dir(&cfg).unwrap();
    load_err(f.path(), &["config.json", "cannot read"]);
    std::fs::remove_dir(&cfg).unwrap();
    std::fs::write(&cfg, [0xff, 0xfe, b'{']).unwrap();
    load_err(f.path(), &["config.json"]);
    for text in ["", "   \n", "not json", "{\"hidden_size\": 32,}", "{} {}"] {
        std::fs::write(&cfg, text).unwrap();
        load_err(f.path(), &["config.json", "valid JSON"]);
    }
    for text in r#"[] | [{"hidden_size": 32}] | "gemma" | 32 | null | true"#.split('|') {
        std::fs::write(&cfg, text).unwrap();
        load_err(f.path(), &["config.json", "a JSON object"]);
    }
}

#[test]
fn config_truncated_at_every_byte_is_an_error() {
    let f = Folder::new(SINGLE);
    let text = std::fs::read_to_string(f.file("config.json")).unwrap();
    assert!(text.len() > 1000, "the fixture config is the ~1.2 KB one");
    for n in 0..text.len() {
        std::fs::write(f.file("config.json"), &text[..n]).unwrap();
        if text[..n].trim_end() == text.trim_end() {
            load(f.path()).unwrap();
        } else {
            load_err(f.path(), &["config.json", "valid JSON"]);
        }
    }
}

/// The items of a JSON array written as text.
fn values(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap()
}

/// Values no count accepts: a string, negative, zero, fractional, too large, not a number.
const BAD_COUNTS: &str = r#"["32", -1, 0, 2.5, 32.0, 1e300, 4294967296, 18446744073709551615,
    18446744073709551616, true, [32], {"value": 32}]"#;

#[test]
fn count_fields_of_the_wrong_type_are_named() {
    let counts = "vocab_size hidden_size intermediate_size num_hidden_layers num_attention_heads \
                  num_key_value_heads head_dim max_position_embeddings sliding_window \
                  sliding_window_pattern";
    let f = Folder::new(SINGLE);
    for field in counts.split_whitespace() {
        for v in values(BAD_COUNTS) {
            f.field_err(field, v);
        }
    }
}

#[test]
fn float_fields_of_the_wrong_type_are_named() {
    let floats = "rms_norm_eps rope_theta rope_local_base_freq query_pre_attn_scalar \
                  attn_logit_softcapping final_logit_softcapping";
    // 1e300 is finite as f64 but not as the f32 the model computes in.
    let bad = values(r#"["1.0", -1.0, 1e300, true, [1.0], {}]"#);
    let f = Folder::new(SINGLE);
    for field in floats.split_whitespace() {
        for v in bad.clone() {
            f.field_err(field, v);
        }
    }
    // A zero RoPE base or query scale divides by zero.
    for field in "rope_theta rope_local_base_freq query_pre_attn_scalar".split_whitespace() {
        f.field_err(field, json!(0));
    }
}

#[test]
fn huge_layer_counts_are_refused_before_allocating() {
    // u32::MAX layers would otherwise allocate per-layer tables for four billion layers.
    let f = Folder::new(SINGLE);
    let dir = f.config(|c| {
        c.insert("num_hidden_layers".into(), json!(u32::MAX));
        c.remove("layer_types");
    });
    load_err(dir, &["config.json", "num_hidden_layers", "512"]);
    let f = Folder::new(SHARDED);
    f.field_err("num_hidden_layers", json!(100_000));
}

#[test]
fn head_counts_that_do_not_fit() {
    let f = Folder::new(SINGLE);
    f.field_err("num_attention_heads", json!(0));
    f.field_err("num_key_value_heads", json!(0));
    f.field_err("head_dim", json!(0));
    // 4 query heads: 3 or 8 KV heads do not divide them.
    for kv in [3, 8] {
        let msg = f.field_err("num_key_value_heads", json!(kv));
        assert!(msg.contains("num_attention_heads"), "{msg}");
    }
    // Without head_dim it is hidden_size / num_attention_heads, which must not be 0.
    let f = Folder::new(SHARDED);
    let dir = f.config(|c| {
        c.remove("head_dim");
        c.insert("hidden_size".into(), json!(2));
    });
    load_err(dir, &["config.json", "head_dim"]);
}

#[test]
fn layer_types_of_the_wrong_length_or_kind() {
    let f = Folder::new(SINGLE);
    let types = |n: usize| Value::from(vec!["full_attention"; n]);
    let msg = f.field_err("layer_types", types(7));
    assert!(msg.contains("8 layer kinds"), "{msg}");
    f.field_err("layer_types", types(9));
    f.field_err("layer_types", json!([]));
    f.field_err("layer_types", json!("sliding_attention"));
    for kind in [json!("chunked_attention"), json!(1), json!(null), json!({})] {
        let mut list = vec![json!("sliding_attention"); 8];
        list[5] = kind;
        f.field_err("layer_types", Value::from(list));
    }
}

#[test]
fn rope_parameters_we_cannot_honour() {
    let per_kind = |global: Value| {
        json!({"full_attention": global,
               "sliding_attention": {"rope_theta": 1000.0, "rope_type": "default"}})
    };
    let bad_entries = values(
        r#"[{"rope_type": "yarn", "factor": 8.0, "rope_theta": 1e5},
            {"rope_type": "dynamic", "factor": 2.0}, {"rope_type": "linear", "factor": 0.0},
            {"rope_type": "linear", "factor": -2.0}, {"rope_type": "linear", "factor": "8"},
            {"rope_type": "linear"}, {"rope_type": 5},
            {"rope_type": "default", "rope_theta": -1.0},
            {"rope_type": "default", "rope_theta": "1e5"}, "linear", 8.0]"#,
    );
    let (single, sharded) = (Folder::new(SINGLE), Folder::new(SHARDED));
    for entry in bad_entries {
        single.field_err("rope_parameters", per_kind(entry.clone()));
        // The flat (single-entry) form, as Gemma 1 and 2 write it.
        sharded.field_err("rope_parameters", entry.clone());
        // And transformers 4's `rope_scaling`.
        let dir = sharded.config(|c| {
            c.remove("rope_parameters");
            c.insert("rope_scaling".into(), entry.clone());
        });
        load_err(dir, &["config.json", "rope_scaling"]);
    }
    // Gemma scales global layers only.
    let local = json!({"full_attention": {"rope_type": "default"},
                       "sliding_attention": {"rope_type": "linear", "factor": 2.0}});
    single.field_err("rope_parameters", local);
}

#[test]
fn architectures_missing_unsupported_or_mistyped() {
    let f = Folder::new(SINGLE);
    let dir = f.config(|c| {
        c.remove("architectures");
        c.remove("model_type");
    });
    load_err(dir, &["config.json", "architectures"]);
    for v in values(r#"[[], "Gemma3ForCausalLM", [3], null]"#) {
        load_err(f.set("architectures", v), &["config.json", "architectures"]);
    }
    for arch in ["LlamaForCausalLM", "Gemma3nForCausalLM", "gemma3"] {
        let msg = f.field_err("architectures", json!([arch]));
        assert!(msg.contains(arch), "{msg}");
        assert!(
            msg.contains("Gemma3ForCausalLM"),
            "names what is supported: {msg}"
        );
    }
    // model_type is not needed: `architectures` says which model this is.
    load(f.config(|c| _ = c.remove("model_type"))).unwrap();
}

#[test]
fn text_config_of_the_wrong_type() {
    let f = Folder::new(SINGLE);
    let inner = f.config.clone();
    let multimodal = |text_config: Value| {
        f.config(|c| {
            *c = json!({
                "architectures": ["Gemma3ForConditionalGeneration"],
                "model_type": "gemma3",
                "text_config": text_config,
            })
            .as_object()
            .unwrap()
            .clone();
        })
    };
    load(multimodal(Value::Object(inner.clone()))).unwrap();
    for v in [json!(5), json!("text"), json!([inner.clone()])] {
        let msg = load_err(multimodal(v), &["config.json", "text_config", "object"]);
        assert!(!msg.contains("missing"), "present, not missing: {msg}");
    }
    let dir = f.set("architectures", json!(["Gemma3ForConditionalGeneration"]));
    load_err(dir, &["config.json", "text_config", "missing"]);
    // A bad field inside text_config is named like a top-level one.
    let mut bad = inner.clone();
    bad.insert("num_attention_heads".into(), json!("4"));
    load_err(
        multimodal(Value::Object(bad)),
        &["config.json", "num_attention_heads"],
    );
}

#[test]
fn every_field_set_to_odd_values_never_panics() {
    let mut odd = values(BAD_COUNTS);
    odd.extend(values(r#"[null, "", -0.0, 1e-300, 1]"#));
    for name in [SINGLE, SHARDED] {
        let f = Folder::new(name);
        for field in f.config.keys() {
            for v in &odd {
                // A config error names the field; a plausible value the tensors disagree with
                // gives a checkpoint error naming a tensor.
                if let Err(msg) = load(f.set(field, v.clone())) {
                    let in_config = msg.contains("config.json") && msg.contains(field.as_str());
                    let in_checkpoint = msg.contains("safetensors") && msg.contains("tensor");
                    assert!(in_config || in_checkpoint, "{field} = {v}: {msg}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random byte edits of config.json: an error naming the file (or a tensor), never a panic.
    #[test]
    fn random_config_edits_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let f = Folder::new(SINGLE);
        let mut bytes = std::fs::read(f.file("config.json")).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        std::fs::write(f.file("config.json"), &bytes).unwrap();
        if let Err(msg) = load(f.path()) {
            prop_assert!(msg.contains("config.json") || msg.contains("tensor"), "{}", msg);
        }
    }
}

// ---- checkpoint against config ----

/// Rewrites the safetensors file `path`: `edit` gets its header and its data section (which it
/// may extend); the header is re-serialised and padded as safetensors writers do.
fn rewrite(path: &Path, edit: impl FnOnce(&mut Map<String, Value>, &mut Vec<u8>)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut data = bytes[8 + n..].to_vec();
    edit(&mut header, &mut data);
    let mut text = serde_json::to_vec(&header).unwrap();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

/// Re-declares tensor `name` as `dtype` with `shape`, its (zero) bytes appended to the data.
fn redeclare(path: &Path, name: &str, dtype: &str, shape: &[u64], elem_bytes: u64) {
    rewrite(path, |h, data| {
        let begin = data.len() as u64;
        let end = begin + shape.iter().product::<u64>() * elem_bytes;
        data.resize(end as usize, 0);
        h.insert(
            name.into(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}),
        );
    });
}

#[test]
fn missing_tensor_is_named_with_its_transformers_name() {
    let names = "model.layers.3.self_attn.k_proj.weight model.norm.weight \
                 model.layers.7.pre_feedforward_layernorm.weight model.embed_tokens.weight";
    for t in names.split_whitespace() {
        let f = Folder::new(SINGLE);
        rewrite(&f.file("model.safetensors"), |h, _| {
            h.remove(t).unwrap();
        });
        load_err(f.path(), &["model.safetensors", t, "missing"]);
    }
    // Sharded: a tensor the index does not map is not in the checkpoint.
    let f = Folder::new(SHARDED);
    let t = "model.layers.1.mlp.up_proj.weight";
    let mut index: Value =
        serde_json::from_str(&std::fs::read_to_string(f.file(INDEX)).unwrap()).unwrap();
    index["weight_map"].as_object_mut().unwrap().remove(t);
    std::fs::write(f.file(INDEX), index.to_string()).unwrap();
    load_err(f.path(), &[INDEX, t, "missing"]);
}

#[test]
fn tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    // hidden_size is 32; a q_proj 33 wide and a norm of 33.
    let f = Folder::new(SINGLE);
    let q = "model.layers.2.self_attn.q_proj.weight";
    redeclare(&f.file("model.safetensors"), q, "F32", &[64, 33], 4);
    load_err(f.path(), &["model.safetensors", q, "33", "32", "expected"]);
    let f = Folder::new(SINGLE);
    let n = "model.layers.0.input_layernorm.weight";
    redeclare(&f.file("model.safetensors"), n, "F32", &[33], 4);
    load_err(f.path(), &["model.safetensors", n, "33", "32", "expected"]);
    // In a shard, the shard is named.
    let f = Folder::new(SHARDED);
    let shard = "model-00002-of-00003.safetensors";
    let k = "model.layers.1.self_attn.k_proj.weight";
    redeclare(&f.file(shard), k, "F32", &[9, 32], 4);
    load_err(f.path(), &[shard, k, "9", "expected"]);
}

#[test]
fn unsupported_dtypes_are_named() {
    let t = "model.layers.1.mlp.gate_proj.weight";
    for dtype in "I64 F64 I8 BOOL F8_E4M3".split_whitespace() {
        let size = if dtype.ends_with("64") { 8 } else { 1 };
        let f = Folder::new(SINGLE);
        redeclare(&f.file("model.safetensors"), t, dtype, &[64, 32], size);
        load_err(f.path(), &["model.safetensors", t, dtype]);
    }
}

#[test]
fn vocab_size_larger_than_the_embedding() {
    for name in [SINGLE, SHARDED] {
        let f = Folder::new(name);
        let needles = ["model.embed_tokens.weight", "300", "256", "safetensors"];
        load_err(f.set("vocab_size", json!(300)), &needles);
    }
}

#[test]
fn index_naming_a_missing_or_outside_shard() {
    let f = Folder::new(SHARDED);
    let shard = "model-00002-of-00003.safetensors";
    std::fs::remove_file(f.file(shard)).unwrap();
    load_err(f.path(), &[INDEX, shard, "does not exist"]);

    // The model folder inside a parent holding a valid shard: the index may not reach it.
    let parent = tempfile::tempdir().unwrap();
    let inner = Folder::new(SHARDED);
    let model = parent.path().join("model");
    std::fs::rename(inner.path(), &model).unwrap();
    std::fs::copy(model.join(shard), parent.path().join("x.safetensors")).unwrap();
    let text = std::fs::read_to_string(model.join(INDEX)).unwrap();
    let outside = parent.path().join("x.safetensors");
    for target in ["../x.safetensors", outside.to_str().unwrap()] {
        std::fs::write(model.join(INDEX), text.replace(shard, target)).unwrap();
        load_err(&model, &[INDEX, target, "inside the folder"]);
    }
    std::fs::rename(&model, inner.path()).unwrap();

    for f in [Folder::new(SHARDED), Folder::new(SINGLE)] {
        for entry in std::fs::read_dir(f.path()).unwrap() {
            let p = entry.unwrap().path();
            if p.to_string_lossy().contains("/model") {
                std::fs::remove_file(p).unwrap();
            }
        }
        load_err(
            f.path(),
            &["model.safetensors", "no safetensors checkpoint"],
        );
    }
}

#[test]
fn truncated_shards_name_the_shard() {
    let cases = [
        (SINGLE, "model.safetensors"),
        (SHARDED, "model-00001-of-00003.safetensors"),
        (SHARDED, "model-00003-of-00003.safetensors"),
    ];
    for (name, file) in cases {
        let f = Folder::new(name);
        let full = std::fs::read(f.file(file)).unwrap();
        let header_end = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
        let mut cuts: Vec<usize> = (0..10).collect();
        cuts.extend([header_end - 1, header_end, header_end + 1, full.len() - 1]);
        cuts.extend((1..40).map(|i| full.len() * i / 40));
        for n in cuts {
            std::fs::write(f.file(file), &full[..n]).unwrap();
            let msg = load_err(f.path(), &[file]);
            assert!(!msg.contains("panicked"), "{msg}");
        }
    }
}
