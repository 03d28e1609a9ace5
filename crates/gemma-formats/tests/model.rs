//! The real default model (Gemma 3 270M, Q4_K_M) read by us matches what the `gguf` Python
//! package reads from it (tests/data/gemma3_270m_facts.json, made by
//! scripts/make_model_facts.py), and our names table matches the package's constants.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::exercise;
use gemma_formats::names::{self, arch, arch_key, blk, general, tensor, tokenizer};
use gemma_formats::{DType, GgufFile, Value};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

fn facts() -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gemma3_270m_facts.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model() -> GgufFile {
    let path = gemma_hub::default_model_path();
    assert!(
        path.exists(),
        "the default model is missing at {}: run `gemma pull` (or set $GEMMA_HOME)",
        path.display()
    );
    let start = Instant::now();
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("opened {} in {:?}", path.display(), start.elapsed());
    f
}

/// The fact-file rendering of one scalar (see `scalar` in the script).
fn fact(v: &Value) -> Json {
    match v {
        Value::F32(x) => serde_json::json!({ "bits": x.to_bits() }),
        Value::F64(x) => serde_json::json!({ "bits": x.to_bits() }),
        Value::Bool(b) => serde_json::json!({ "value": b }),
        Value::String(s) => serde_json::json!({ "value": s }),
        other => serde_json::json!({ "value": other.as_integer().unwrap() as i64 }),
    }
}

/// `canonical` in the script: the bytes hashed per array item.
fn canonical(v: &Value) -> Vec<u8> {
    match v {
        Value::F32(x) => u64::from(x.to_bits()).to_le_bytes().to_vec(),
        Value::F64(x) => x.to_bits().to_le_bytes().to_vec(),
        Value::String(s) => [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat(),
        Value::Bool(b) => i64::from(*b).to_le_bytes().to_vec(),
        other => (other.as_integer().unwrap() as i64).to_le_bytes().to_vec(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn real_model_matches_gguf_py() {
    let f = model();
    let facts = facts();
    assert_eq!(u64::from(f.version()), facts["version"].as_u64().unwrap());
    assert_eq!(f.alignment(), facts["alignment"].as_u64().unwrap());
    assert_eq!(f.data_offset(), facts["data_offset"].as_u64().unwrap());
    assert_eq!(f.file_size(), facts["file_size"].as_u64().unwrap());

    let meta = facts["metadata"].as_array().unwrap();
    assert_eq!(f.metadata().len(), meta.len());
    for ((key, value), m) in f.metadata().iter().zip(meta) {
        assert_eq!(key, m["key"].as_str().unwrap());
        assert_eq!(value.type_name(), m["type"].as_str().unwrap(), "{key}");
        match value {
            Value::Array(items) => {
                assert_eq!(
                    items[0].type_name(),
                    m["elem_type"].as_str().unwrap(),
                    "{key}"
                );
                assert_eq!(items.len() as u64, m["len"].as_u64().unwrap(), "{key}");
                let first: Vec<Json> = items.iter().take(5).map(fact).collect();
                assert_eq!(Json::Array(first), m["first"], "{key}");
                assert_eq!(fact(items.last().unwrap()), m["last"], "{key}");
                let mut h = Sha256::new();
                for it in items {
                    h.update(canonical(it));
                }
                assert_eq!(
                    hex(&h.finalize()),
                    m["items_sha256"].as_str().unwrap(),
                    "{key}"
                );
            }
            scalar => {
                let mut want = m.clone();
                let obj = want.as_object_mut().unwrap();
                obj.remove("key");
                obj.remove("type");
                assert_eq!(fact(scalar), want, "{key}");
            }
        }
    }

    let tensors = facts["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), 236);
    assert_eq!(tensors.len(), 236);
    for (t, e) in f.tensors().iter().zip(tensors) {
        assert_eq!(t.name, e["name"].as_str().unwrap());
        assert_eq!(t.dtype.name(), e["type"].as_str().unwrap(), "{}", t.name);
        let dims: Vec<u64> = e["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(t.offset, e["offset"].as_u64().unwrap(), "{}", t.name);
        assert_eq!(
            t.n_elements,
            e["n_elements"].as_u64().unwrap(),
            "{}",
            t.name
        );
        assert_eq!(t.n_bytes, e["n_bytes"].as_u64().unwrap(), "{}", t.name);
        let data = f.tensor_data(t);
        assert_eq!(
            hex(&data[..16]),
            e["head_hex"].as_str().unwrap(),
            "{}",
            t.name
        );
        assert_eq!(
            hex(&data[data.len() - 16..]),
            e["tail_hex"].as_str().unwrap(),
            "{}",
            t.name
        );
    }
    exercise(&f);
}

#[test]
fn real_model_through_the_names_table() {
    let f = model();
    let a = f.get_str(general::ARCHITECTURE).unwrap().unwrap();
    assert_eq!(a, names::ARCH_GEMMA3);
    let n_blocks = f.get_u32(&arch_key(a, arch::BLOCK_COUNT)).unwrap().unwrap() as usize;
    let width = f
        .get_u64(&arch_key(a, arch::EMBEDDING_LENGTH))
        .unwrap()
        .unwrap();
    let head_dim = f.get_u64(&arch_key(a, arch::KEY_LENGTH)).unwrap().unwrap();
    let n_vocab = f.get_str_array(tokenizer::TOKENS).unwrap().unwrap().len() as u64;
    assert_eq!(
        f.get_f32_array(tokenizer::SCORES).unwrap().unwrap().len() as u64,
        n_vocab
    );
    assert_eq!(
        f.get_i32_array(tokenizer::TOKEN_TYPE)
            .unwrap()
            .unwrap()
            .len() as u64,
        n_vocab
    );
    assert!(f
        .get_f32(&arch_key(a, arch::LAYER_NORM_RMS_EPSILON))
        .unwrap()
        .is_some());
    assert_eq!(f.get_bool(tokenizer::ADD_BOS).unwrap(), Some(true));

    // Every tensor is a global one or a block tensor, and every block has all 13.
    let emb = f.tensor(tensor::TOKEN_EMBD).unwrap();
    assert_eq!(
        (emb.dims.clone(), emb.dtype),
        (vec![width, n_vocab], DType::Q8_0)
    );
    assert_eq!(f.tensor(tensor::OUTPUT_NORM).unwrap().dims, [width]);
    assert!(
        f.tensor(tensor::OUTPUT).is_none(),
        "Gemma 3 ties the output to the embedding"
    );
    let mut expected = vec![
        tensor::TOKEN_EMBD.to_string(),
        tensor::OUTPUT_NORM.to_string(),
    ];
    for i in 0..n_blocks {
        for s in tensor::GEMMA3_BLOCK {
            expected.push(blk(i, s));
        }
    }
    let mut found: Vec<String> = f.tensors().iter().map(|t| t.name.clone()).collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    assert_eq!(
        f.tensor(&blk(0, tensor::ATTN_K_NORM)).unwrap().dims,
        [head_dim]
    );
}

#[test]
fn names_match_gguf_py() {
    let facts = facts();
    let table = facts["names"].as_object().unwrap();
    let ours: Vec<(&str, String)> = vec![
        ("general::ARCHITECTURE", general::ARCHITECTURE.into()),
        ("general::TYPE", general::TYPE.into()),
        ("general::NAME", general::NAME.into()),
        ("general::BASENAME", general::BASENAME.into()),
        ("general::SIZE_LABEL", general::SIZE_LABEL.into()),
        ("general::LICENSE", general::LICENSE.into()),
        ("general::ALIGNMENT", general::ALIGNMENT.into()),
        ("general::FILE_TYPE", general::FILE_TYPE.into()),
        (
            "general::QUANTIZATION_VERSION",
            general::QUANTIZATION_VERSION.into(),
        ),
        (
            "arch::CONTEXT_LENGTH",
            arch_key("gemma3", arch::CONTEXT_LENGTH),
        ),
        (
            "arch::EMBEDDING_LENGTH",
            arch_key("gemma3", arch::EMBEDDING_LENGTH),
        ),
        ("arch::BLOCK_COUNT", arch_key("gemma3", arch::BLOCK_COUNT)),
        (
            "arch::FEED_FORWARD_LENGTH",
            arch_key("gemma3", arch::FEED_FORWARD_LENGTH),
        ),
        ("arch::HEAD_COUNT", arch_key("gemma3", arch::HEAD_COUNT)),
        (
            "arch::HEAD_COUNT_KV",
            arch_key("gemma3", arch::HEAD_COUNT_KV),
        ),
        ("arch::KEY_LENGTH", arch_key("gemma3", arch::KEY_LENGTH)),
        ("arch::VALUE_LENGTH", arch_key("gemma3", arch::VALUE_LENGTH)),
        (
            "arch::LAYER_NORM_RMS_EPSILON",
            arch_key("gemma3", arch::LAYER_NORM_RMS_EPSILON),
        ),
        (
            "arch::SLIDING_WINDOW",
            arch_key("gemma3", arch::SLIDING_WINDOW),
        ),
        (
            "arch::SLIDING_WINDOW_PATTERN",
            arch_key("gemma3", arch::SLIDING_WINDOW_PATTERN),
        ),
        (
            "arch::ROPE_FREQ_BASE",
            arch_key("gemma3", arch::ROPE_FREQ_BASE),
        ),
        (
            "arch::ROPE_FREQ_BASE_SWA",
            arch_key("gemma3", arch::ROPE_FREQ_BASE_SWA),
        ),
        (
            "arch::ROPE_SCALING_TYPE",
            arch_key("gemma3", arch::ROPE_SCALING_TYPE),
        ),
        (
            "arch::ROPE_SCALING_FACTOR",
            arch_key("gemma3", arch::ROPE_SCALING_FACTOR),
        ),
        (
            "arch::ATTN_LOGIT_SOFTCAPPING",
            arch_key("gemma3", arch::ATTN_LOGIT_SOFTCAPPING),
        ),
        (
            "arch::FINAL_LOGIT_SOFTCAPPING",
            arch_key("gemma3", arch::FINAL_LOGIT_SOFTCAPPING),
        ),
        ("tokenizer::MODEL", tokenizer::MODEL.into()),
        ("tokenizer::PRE", tokenizer::PRE.into()),
        ("tokenizer::TOKENS", tokenizer::TOKENS.into()),
        ("tokenizer::SCORES", tokenizer::SCORES.into()),
        ("tokenizer::TOKEN_TYPE", tokenizer::TOKEN_TYPE.into()),
        ("tokenizer::MERGES", tokenizer::MERGES.into()),
        ("tokenizer::BOS_ID", tokenizer::BOS_ID.into()),
        ("tokenizer::EOS_ID", tokenizer::EOS_ID.into()),
        ("tokenizer::EOT_ID", tokenizer::EOT_ID.into()),
        ("tokenizer::EOM_ID", tokenizer::EOM_ID.into()),
        ("tokenizer::UNKNOWN_ID", tokenizer::UNKNOWN_ID.into()),
        ("tokenizer::PADDING_ID", tokenizer::PADDING_ID.into()),
        ("tokenizer::ADD_BOS", tokenizer::ADD_BOS.into()),
        ("tokenizer::ADD_EOS", tokenizer::ADD_EOS.into()),
        ("tokenizer::ADD_SEP", tokenizer::ADD_SEP.into()),
        (
            "tokenizer::ADD_SPACE_PREFIX",
            tokenizer::ADD_SPACE_PREFIX.into(),
        ),
        ("tokenizer::CHAT_TEMPLATE", tokenizer::CHAT_TEMPLATE.into()),
        ("tensor::TOKEN_EMBD", tensor::TOKEN_EMBD.into()),
        ("tensor::OUTPUT_NORM", tensor::OUTPUT_NORM.into()),
        ("tensor::OUTPUT", tensor::OUTPUT.into()),
        ("blk0::ATTN_NORM", blk(0, tensor::ATTN_NORM)),
        ("blk0::ATTN_Q", blk(0, tensor::ATTN_Q)),
        ("blk0::ATTN_K", blk(0, tensor::ATTN_K)),
        ("blk0::ATTN_V", blk(0, tensor::ATTN_V)),
        ("blk0::ATTN_OUTPUT", blk(0, tensor::ATTN_OUTPUT)),
        ("blk0::ATTN_Q_NORM", blk(0, tensor::ATTN_Q_NORM)),
        ("blk0::ATTN_K_NORM", blk(0, tensor::ATTN_K_NORM)),
        (
            "blk0::POST_ATTENTION_NORM",
            blk(0, tensor::POST_ATTENTION_NORM),
        ),
        ("blk0::FFN_NORM", blk(0, tensor::FFN_NORM)),
        ("blk0::FFN_GATE", blk(0, tensor::FFN_GATE)),
        ("blk0::FFN_UP", blk(0, tensor::FFN_UP)),
        ("blk0::FFN_DOWN", blk(0, tensor::FFN_DOWN)),
        ("blk0::POST_FFW_NORM", blk(0, tensor::POST_FFW_NORM)),
    ];
    assert_eq!(
        ours.len(),
        table.len(),
        "every name in the fixture is checked"
    );
    for (id, name) in ours {
        assert_eq!(
            Some(name.as_str()),
            table.get(id).and_then(Json::as_str),
            "{id}"
        );
    }
}
