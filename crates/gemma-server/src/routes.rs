//! The small routes: `/v1/models`, `/tokenize`, `/detokenize`, `/health` and `/metrics`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::ApiJson;
use crate::error::ApiError;
use crate::pieces::piece_text;
use crate::state::AppState;

fn model_card(state: &AppState) -> Value {
    json!({
        "id": state.model_id,
        "object": "model",
        "created": state.created,
        "owned_by": "gemma-rs",
    })
}

/// `GET /v1/models`: the loaded model, by its file or folder name.
pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "object": "list", "data": [model_card(&state)] }))
}

/// `GET /v1/models/{id}`.
pub async fn model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if id != state.model_id {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "model {id:?} not found: this server serves {:?}",
                state.model_id
            ),
        )
        .with_code("model_not_found"));
    }
    Ok(Json(model_card(&state)))
}

/// `POST /tokenize` (llama.cpp's names).
#[derive(Debug, Deserialize)]
pub struct TokenizeRequest {
    /// The text.
    pub content: String,
    /// Add BOS as the model asks (default false).
    #[serde(default)]
    pub add_special: bool,
    /// Return `{id, piece}` pairs.
    #[serde(default)]
    pub with_pieces: bool,
}

/// `POST /tokenize`: special tokens written in the text are parsed as such.
pub async fn tokenize(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let ids = state.model.tokenize(&req.content, req.add_special)?;
    if req.with_pieces {
        let pieces: Vec<Value> = ids
            .iter()
            .map(|&id| json!({ "id": id, "piece": piece_text(&state.model, id) }))
            .collect();
        return Ok(Json(json!({ "tokens": pieces })));
    }
    Ok(Json(json!({ "tokens": ids })))
}

/// `POST /detokenize`.
#[derive(Debug, Deserialize)]
pub struct DetokenizeRequest {
    /// Token ids.
    pub tokens: Vec<u32>,
}

/// `POST /detokenize`: control tokens are left out of the text.
pub async fn detokenize(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let vocab = state.model.config().vocab_size;
    if let Some(bad) = req.tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::bad_field(
            "tokens",
            format!("token {bad} is outside the {vocab}-token vocabulary"),
        ));
    }
    Ok(Json(
        json!({ "content": state.model.detokenize(&req.tokens) }),
    ))
}

/// `GET /health`: 200 while serving, 503 while shutting down.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting down" })),
        )
            .into_response();
    }
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /metrics`: Prometheus' text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state
        .metrics
        .render(state.batcher.stats(), state.in_flight());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
