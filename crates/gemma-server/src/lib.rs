//! An OpenAI-compatible HTTP server over the engine (axum + tokio): chat and text completions
//! with streaming, `logprobs` and `usage`, tokenize/detokenize, health and Prometheus metrics,
//! served by the engine's continuous batcher.
//!
//! [`app`] builds the routes over an [`AppState`] (tested without a socket); [`serve`] listens,
//! and on SIGTERM or Ctrl-C drains: new generations get 503, those in flight may finish
//! within the shutdown timeout, then are cancelled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use gemma_engine::GenerateOptions;
use serde::Deserialize;

mod body;
mod chat;
mod completions;
mod error;
mod gen;
mod metrics;
mod params;
mod pieces;
mod respond;
mod routes;
mod state;

pub use error::ApiError;
pub use state::{model_name, AppState, ServerConfig};

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the request's `usage`.
    #[serde(default)]
    pub include_usage: bool,
}

/// The routes over `state`.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(routes::models))
        .route("/v1/models/{id}", get(routes::model))
        .route("/tokenize", post(routes::tokenize))
        .route("/detokenize", post(routes::detokenize))
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}

/// Every route but `/health` needs the API key, when one is set.
async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(key) = &state.config.api_key {
        if req.uri().path() != "/health" {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let ok = given.is_some_and(|g| same(g.as_bytes(), key.as_bytes()));
            if !ok {
                let msg = if given.is_some() {
                    "incorrect API key"
                } else {
                    "missing API key: send the header Authorization: Bearer <key>"
                };
                return ApiError::new(StatusCode::UNAUTHORIZED, msg)
                    .with_code("invalid_api_key")
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Compares in time that does not depend on where the two differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Counts each answered request by route and status.
async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let resp = next.run(req).await;
    state.metrics.request(&route, resp.status().as_u16());
    resp
}

/// A fresh response id: `prefix-` and 24 hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{:016x}{:08x}",
        t.rotate_left(17) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        n as u32
    )
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A 400 when `logit_bias` names a token outside the vocabulary.
pub(crate) fn check_bias(opts: &GenerateOptions, vocab: usize) -> Result<(), ApiError> {
    match opts
        .sampler
        .logit_bias
        .iter()
        .find(|(id, _)| *id as usize >= vocab)
    {
        Some((id, _)) => Err(ApiError::bad_field(
            "logit_bias",
            format!("logit_bias names token {id}, but the vocabulary has {vocab} tokens"),
        )),
        None => Ok(()),
    }
}

/// Listens on the configured address and serves until SIGTERM or Ctrl-C, then drains:
/// generation requests get 503, those in flight may finish within the shutdown timeout and
/// are then cancelled, and the function returns. `ready` is called with the bound address.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(
    state: Arc<AppState>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    let cfg = &state.config;
    let listener = tokio::net::TcpListener::bind((cfg.host.as_str(), cfg.port)).await?;
    ready(listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let drained = Arc::new(tokio::sync::Notify::new());
    let st = state.clone();
    let done = drained.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        drain(&st).await;
        let _ = stop_tx.send(());
        done.notify_one();
    });
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    // Connections that will not close (a client that stopped reading) do not hold the exit.
    let forced = async {
        drained.notified().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        r = server => r,
        () = forced => Ok(()),
    }
}

/// The shutdown sequence after the signal.
async fn drain(state: &AppState) {
    state.start_draining();
    let timeout = state.config.shutdown_timeout;
    eprintln!(
        "gemma serve: shutting down; {} request(s) in flight get up to {:.0} s",
        state.in_flight(),
        timeout.as_secs_f64()
    );
    if !wait_idle(state, timeout).await {
        eprintln!(
            "gemma serve: cancelling {} request(s) still running",
            state.in_flight()
        );
        state.cancel_all();
        wait_idle(state, Duration::from_secs(5)).await;
    }
}

/// Waits up to `limit` for no generation to be in flight; whether none is.
async fn wait_idle(state: &AppState, limit: Duration) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while state.in_flight() > 0 {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
