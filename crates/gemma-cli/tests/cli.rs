//! The `gemma` command as a user drives it, on the real default model: streams only generated
//! text to stdout, reads prompts from arguments or stdin, prints the JSON shapes scripts rely
//! on, and fails with clear messages.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn gemma(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gemma"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn gemma");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&str>) -> (String, String) {
    let out = gemma(args, stdin);
    let (so, se) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "gemma {args:?} failed: {se}");
    (so, se)
}

fn model() -> String {
    let p = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    p.to_string_lossy().into_owned()
}

#[test]
fn run_streams_only_generated_text_and_reads_stdin() {
    let m = model();
    let prompt = "The capital of France is";
    let base = [
        "run",
        "--model",
        &m,
        "--temp",
        "0",
        "-n",
        "8",
        "--threads",
        "2",
    ];
    let (arg_out, err) = ok(&[&base[..], &[prompt]].concat(), None);
    assert!(
        !arg_out.contains(prompt),
        "the prompt is not echoed: {arg_out:?}"
    );
    assert!(!arg_out.trim().is_empty());
    assert!(err.contains("tokens/s"), "speed on stderr: {err}");
    let (stdin_out, _) = ok(&base, Some(prompt));
    assert_eq!(
        arg_out, stdin_out,
        "argument and stdin prompts give the same greedy text"
    );
    // A prompt starting with a dash goes after `--`.
    let (dash, _) = ok(
        &[&base[..], &["--", "-- a list:\n- one\n- two\n-"]].concat(),
        None,
    );
    assert!(!dash.is_empty());
}

#[test]
fn seed_makes_sampling_reproducible() {
    let m = model();
    let args = [
        "run",
        "--model",
        &m,
        "--temperature",
        "1.0",
        "--top-k",
        "0",
        "--top-p",
        "1",
        "--min-p",
        "0",
        "-n",
        "12",
        "--seed",
        "7",
        "Tell me a story:",
    ];
    let (a, _) = ok(&args, None);
    let (b, _) = ok(&args, None);
    assert_eq!(a, b);
    let mut other = args;
    other[14] = "8";
    let (c, _) = ok(&other, None);
    assert_ne!(a, c, "another seed gives another text");
}

#[test]
fn tokenize_json_and_bos_handling() {
    let m = model();
    let (out, _) = ok(
        &[
            "tokenize",
            "--model",
            &m,
            "--json",
            "The capital of France is",
        ],
        None,
    );
    let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
    // Reference: llama.cpp's tokenization of the same text (BOS = 2).
    assert_eq!(ids, vec![2, 818, 5279, 529, 7001, 563]);
    let (out, _) = ok(
        &["tokenize", "--model", &m, "--json", "--no-bos"],
        Some("The capital of France is"),
    );
    let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ids, vec![818, 5279, 529, 7001, 563]);
    // Special tokens written in the text are parsed as such.
    let (out, _) = ok(
        &["tokenize", "--model", &m, "--json", "<start_of_turn>user"],
        None,
    );
    let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ids.len(), 3, "{ids:?}");
}

#[test]
fn logits_json_shape_and_order() {
    let m = model();
    let (out, _) = ok(
        &[
            "logits",
            "--model",
            &m,
            "--tokens",
            "2,818,5279",
            "--top",
            "5",
            "--json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["tokens"],
        serde_json::json!([2, 818, 5279]),
        "ids used exactly as given"
    );
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let logits: Vec<f64> = top.iter().map(|t| t["logit"].as_f64().unwrap()).collect();
    assert!(
        logits.windows(2).all(|w| w[0] >= w[1]),
        "sorted high to low: {logits:?}"
    );
    assert!(top.iter().all(|t| t["id"].as_u64().is_some()));
    let (out, _) = ok(
        &[
            "logits",
            "--model",
            &m,
            "--prompt",
            "The capital of France is",
            "--json",
            "--top",
            "1",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["tokens"],
        serde_json::json!([2, 818, 5279, 529, 7001, 563])
    );
}

#[test]
fn full_context_ends_with_a_message_not_a_crash() {
    let m = model();
    let (out, err) = ok(
        &[
            "run", "--model", &m, "--temp", "0", "--ctx", "10", "-n", "50", "Hello",
        ],
        None,
    );
    assert!(err.contains("context is full"), "{err}");
    assert!(!out.is_empty());
}

#[test]
fn clear_errors_for_bad_input() {
    let out = gemma(&["run", "--model", "/nonexistent/model.gguf", "hi"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00 truncated").unwrap();
    let out = gemma(&["info", "--model", bad.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.gguf"), "the error names the file: {err}");
    assert!(!err.contains("panicked"), "{err}");

    let m = model();
    let out = gemma(&["logits", "--model", &m, "--tokens", "2,999999"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("999999"));
    let out = gemma(&["run", "--model", &m, "--top-p", "0", "hi"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("top_p"));
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // As in `gemma info | head -1`: the reader goes away before gemma writes.
    let m = model();
    for args in [
        vec!["info", "--tensors", "--model", &m],
        vec!["tokenize", "--model", &m, "hello world"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gemma"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "gemma {args:?}: {err}");
        assert!(out.status.success(), "gemma {args:?}: {err}");
    }
}

#[test]
fn info_shows_the_query_scalar_and_the_flag_overrides_it() {
    let m = model();
    let (o, _) = ok(&["info", "--model", &m], None);
    let line = o
        .lines()
        .find(|l| l.starts_with("query_pre_attn_scalar:"))
        .expect("a query_pre_attn_scalar line");
    assert!(line.contains("256 (head_dim"), "{line}");
    let (o, _) = ok(
        &["info", "--model", &m, "--query-pre-attn-scalar", "144"],
        None,
    );
    assert!(
        o.contains("query_pre_attn_scalar: 144 (--query-pre-attn-scalar override)"),
        "{o}"
    );
    // The override reaches the forward pass: other logits.
    let top = |extra: &[&str]| {
        let mut args = vec!["logits", "--model", &m, "--tokens", "2,818,5279", "--json"];
        args.extend_from_slice(extra);
        let (o, _) = ok(&args, None);
        let v: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
        v["top"][0]["logit"].as_f64().unwrap()
    };
    assert_ne!(top(&[]), top(&["--query-pre-attn-scalar", "144"]));
    let bad = gemma(&["info", "--model", &m, "--query-pre-attn-scalar=0"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("query_pre_attn_scalar"));
}

#[test]
fn bench_reports_llama_bench_style_json() {
    let m = model();
    let (o, _) = ok(
        &[
            "bench", "--model", &m, "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (r, test) in rows.iter().zip(["pp8", "tg4"]) {
        assert_eq!(r["test"], test);
        assert_eq!(r["n_threads"], 1);
        assert_eq!(r["samples_ts"].as_array().unwrap().len(), 2);
        assert!(r["avg_ts"].as_f64().unwrap() > 0.0);
        assert!(r["stddev_ts"].as_f64().unwrap() >= 0.0);
    }
    let bad = gemma(&["bench", "--model", &m, "-r", "0"], None);
    assert!(!bad.status.success());
}
