//! What every route shares: the model, the batcher, the limits, the metrics, and the shutdown
//! state (draining, then cancelling what is left).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gemma_engine::{Batcher, LoadedModel};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub host: String,
    /// Port (0 picks a free one).
    pub port: u16,
    /// When set, every route but `/health` needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Context of each sequence, in tokens.
    pub ctx: usize,
    /// Sequences evaluated at once.
    pub parallel: usize,
    /// Requests that may wait for a sequence; beyond that, 429.
    pub queue: usize,
    /// Threads evaluating the model.
    pub threads: usize,
    /// Largest request body, in bytes; beyond that, 413.
    pub max_body: usize,
    /// How long in-flight requests may run on after SIGTERM before they are cancelled.
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            api_key: None,
            ctx: 4096,
            parallel: 4,
            queue: 64,
            threads: gemma_engine::default_threads(),
            max_body: 1 << 20,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// The state behind every route.
pub struct AppState {
    /// The loaded model.
    pub model: Arc<LoadedModel>,
    /// The continuous batcher running it.
    pub batcher: Batcher,
    /// The configuration.
    pub config: ServerConfig,
    /// The name `/v1/models` lists: the model's file or folder name.
    pub model_id: String,
    /// When the model was loaded (Unix seconds).
    pub created: u64,
    /// Counters and histograms.
    pub metrics: Metrics,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    cancel: watch::Sender<bool>,
}

impl AppState {
    /// The state for `model` under `config`; starts the batcher.
    pub fn new(model: Arc<LoadedModel>, config: ServerConfig) -> Arc<AppState> {
        let batcher = Batcher::start(
            model.clone(),
            config.ctx,
            config.threads,
            config.parallel,
            config.queue,
        );
        Arc::new(AppState {
            model_id: model_name(&model.path),
            model,
            batcher,
            config,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            cancel: watch::channel(false).0,
        })
    }

    /// Whether the server is shutting down (new generations get 503).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Stops taking generation requests.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Cancels every generation still running.
    pub fn cancel_all(&self) {
        self.cancel.send_replace(true);
    }

    /// Generation requests being answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// A receiver that turns `true` when generations are to be cancelled.
    pub fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel.subscribe()
    }

    /// Marks a generation request in flight until the guard drops.
    pub fn enter(self: &Arc<Self>) -> FlightGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        FlightGuard {
            state: self.clone(),
            start: Instant::now(),
        }
    }
}

/// A generation request in flight; counted until dropped.
pub struct FlightGuard {
    state: Arc<AppState>,
    /// When the request arrived.
    pub start: Instant,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A model's name as `/v1/models` gives it: its file or folder name.
pub fn model_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
