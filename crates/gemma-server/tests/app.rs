//! The routes driven in-process (no socket) on the default model: response shapes, the text
//! the library generates, streaming, and each error status.

use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use gemma_engine::{GenerateOptions, LoadedModel, SamplerConfig};
use gemma_server::{app, AppState, ServerConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

fn model() -> Arc<LoadedModel> {
    static M: OnceLock<Arc<LoadedModel>> = OnceLock::new();
    M.get_or_init(|| {
        let path = gemma_hub::ensure_default_model(true).expect("default model");
        LoadedModel::load(&path).expect("load")
    })
    .clone()
}

fn server(config: ServerConfig) -> Router {
    app(AppState::new(model(), config))
}

fn config() -> ServerConfig {
    ServerConfig {
        ctx: 512,
        parallel: 2,
        threads: 2,
        ..ServerConfig::default()
    }
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, bytes)
}

async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    let (s, b) = call(app, "POST", path, Some(body), None).await;
    (
        s,
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&b))),
    )
}

/// The `data:` payloads of a server-sent event stream.
fn sse_data(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}

fn library_greedy(prompt: &str, n: usize) -> String {
    let m = model();
    let ids = m.tokenize(prompt, true).unwrap();
    let mut s = m.new_session(Some(512), Some(2)).unwrap();
    let opts = GenerateOptions {
        max_tokens: n,
        sampler: SamplerConfig::greedy(),
        ..GenerateOptions::default()
    };
    let mut text = String::new();
    s.generate(&ids, &opts, |ev| {
        text.push_str(ev.text);
        ControlFlow::Continue(())
    })
    .unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_give_the_library_text_with_usage_and_stream_the_same() {
    let app = server(config());
    let prompt = "The capital of France is";
    let want = library_greedy(prompt, 12);
    let req = json!({"model": "anything", "prompt": prompt, "max_tokens": 12, "temperature": 0});
    let (s, v) = post(&app, "/v1/completions", req.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "anything");
    assert_eq!(v["choices"][0]["text"], want);
    let prompt_tokens = model().tokenize(prompt, true).unwrap().len();
    assert_eq!(v["usage"]["prompt_tokens"], prompt_tokens);
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(completion <= 12);
    assert_eq!(
        v["usage"]["total_tokens"],
        prompt_tokens as u64 + completion
    );
    // Streamed: the same text in chunks, one finish_reason, then [DONE].
    let mut sreq = req.clone();
    sreq["stream"] = json!(true);
    let (s, b) = call(&app, "POST", "/v1/completions", Some(sreq), None).await;
    assert_eq!(s, StatusCode::OK);
    let data = sse_data(&b);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, want);
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&v["choices"][0]["finish_reason"]]);
    // Two prompts: two choices, each its solo answer.
    let other = "Water boils at";
    let (s, v) = post(
        &app,
        "/v1/completions",
        json!({"prompt": [prompt, other], "max_tokens": 12, "temperature": 0}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["text"], want);
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["choices"][1]["text"], library_greedy(other, 12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_renders_the_template_and_streams_the_same_answer() {
    let app = server(config());
    let req = json!({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}],
        "max_tokens": 10, "temperature": 0, "logprobs": true, "top_logprobs": 2,
    });
    let (s, v) = post(&app, "/v1/chat/completions", req.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let m = model();
    let msgs = [
        gemma_engine::Message::system("Be brief."),
        gemma_engine::Message::user("Name a colour."),
    ];
    let prompt = m.chat_tokens(&msgs, true).unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], prompt.len());
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let lps = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(
        lps.len() as u64,
        v["usage"]["completion_tokens"].as_u64().unwrap()
    );
    for e in lps {
        // Greedy: the chosen token is the most likely one.
        assert_eq!(e["logprob"], e["top_logprobs"][0]["logprob"], "{e}");
        assert_eq!(e["token"], e["top_logprobs"][0]["token"], "{e}");
        assert!(e["logprob"].as_f64().unwrap() <= 0.0);
    }
    let mut sreq = req;
    sreq["stream"] = json!(true);
    sreq["stream_options"] = json!({"include_usage": true});
    let (_, b) = call(&app, "POST", "/v1/chat/completions", Some(sreq), None).await;
    let data = sse_data(&b);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, content);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], v["usage"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_with_logprobs_scores_the_prompt() {
    let app = server(config());
    let (s, v) = post(
        &app,
        "/v1/completions",
        json!({"prompt": "Hello world, how are you", "max_tokens": 0, "echo": true, "logprobs": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = &v["choices"][0];
    assert_eq!(c["text"], "Hello world, how are you");
    let lp = &c["logprobs"]["token_logprobs"];
    let n = v["usage"]["prompt_tokens"].as_u64().unwrap() as usize;
    assert_eq!(lp.as_array().unwrap().len(), n);
    assert!(lp[0].is_null());
    // The same numbers as one evaluation of the prompt through the library.
    let m = model();
    let ids = m.tokenize("Hello world, how are you", true).unwrap();
    let mut s = m.new_session(Some(64), Some(2)).unwrap();
    let rows = s.eval(&ids, gemma_engine::Logits::All).unwrap();
    let vocab = m.config().vocab_size;
    for i in 1..n {
        let want =
            gemma_engine::token_logprob(&rows[(i - 1) * vocab..i * vocab], ids[i], 0).logprob;
        let got = lp[i].as_f64().unwrap() as f32;
        assert!((got - want).abs() < 1e-4, "{i}: {got} vs {want}");
    }
    let text = c["text"].as_str().unwrap();
    let offsets: Vec<usize> = c["logprobs"]["text_offset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap() as usize)
        .collect();
    let tokens: Vec<&str> = c["logprobs"]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for (k, (&o, t)) in offsets.iter().zip(&tokens).enumerate().skip(1) {
        assert!(text[o..].starts_with(t), "token {k} {t:?} at {o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_routes_models_tokenize_health_metrics() {
    let app = server(config());
    let (s, b) = call(&app, "GET", "/v1/models", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["data"][0]["id"], "gemma-3-270m-q4_k_m.gguf");
    let (s, v) = post(&app, "/tokenize", json!({"content": "Hello world"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["tokens"],
        json!(model().tokenize("Hello world", false).unwrap())
    );
    let (_, d) = post(&app, "/detokenize", json!({"tokens": v["tokens"]})).await;
    assert_eq!(d["content"], "Hello world");
    let (s, _) = call(&app, "GET", "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = call(&app, "GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.contains("gemma_requests_total{route=\"/tokenize\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("gemma_queue_length 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_with_their_status() {
    let app = server(ServerConfig {
        max_body: 2048,
        ctx: 64,
        ..config()
    });
    let check = |s: StatusCode, b: &[u8], want: StatusCode, kind: &str| {
        assert_eq!(s, want, "{}", String::from_utf8_lossy(b));
        let v: Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        v
    };
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!("{not json")),
        None,
    )
    .await;
    check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})),
        None,
    )
    .await;
    check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": "hi", "top_p": 0})),
        None,
    )
    .await;
    let v = check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(v["error"]["param"], "top_p");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": "hi", "max_tokens": 100})),
        None,
    )
    .await;
    let v = check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": [999999]})),
        None,
    )
    .await;
    check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": "hi", "logit_bias": {"999999": 1}})),
        None,
    )
    .await;
    check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/chat/completions",
        Some(json!({"messages": [{"role": "tool", "content": "x"}]})),
        None,
    )
    .await;
    check(s, &b, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": "x".repeat(4000)})),
        None,
    )
    .await;
    check(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large");
    let (s, b) = call(&app, "GET", "/v1/nothing", None, None).await;
    check(s, &b, StatusCode::NOT_FOUND, "not_found_error");
    let (s, b) = call(&app, "GET", "/v1/completions", None, None).await;
    check(
        s,
        &b,
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
    );
    // The API key guards everything but /health.
    let app = server(ServerConfig {
        api_key: Some("sekret".into()),
        ..config()
    });
    let (s, b) = call(&app, "GET", "/v1/models", None, None).await;
    check(s, &b, StatusCode::UNAUTHORIZED, "authentication_error");
    let (s, b) = call(&app, "GET", "/v1/models", None, Some("wrong")).await;
    check(s, &b, StatusCode::UNAUTHORIZED, "authentication_error");
    let (s, _) = call(&app, "GET", "/v1/models", None, Some("sekret")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&app, "GET", "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_a_429_and_the_running_request_goes_on() {
    // One sequence and no waiting room: while one request runs, the next is refused.
    let app = server(ServerConfig {
        parallel: 1,
        queue: 0,
        ..config()
    });
    let long =
        json!({"prompt": "Once upon a time", "max_tokens": 64, "temperature": 0, "stream": true});
    let req = Request::post("/v1/completions")
        .body(Body::from(long.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The first chunk proves the request is running.
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    let (s, b) = call(
        &app,
        "POST",
        "/v1/completions",
        Some(json!({"prompt": "hi", "max_tokens": 2})),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
}
