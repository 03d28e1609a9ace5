//! `gemma serve`: the OpenAI-compatible HTTP server over the loaded model.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use gemma_server::{AppState, ServerConfig};

use crate::ModelArgs;

/// Arguments of `gemma serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer KEY` on every route but /health (default: the
    /// environment variable GEMMA_API_KEY, if set).
    #[arg(
        long,
        value_name = "KEY",
        env = "GEMMA_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Context of each sequence, in tokens.
    #[arg(long, short = 'c', default_value_t = 4096)]
    pub ctx: usize,
    /// Sequences evaluated together (continuous batching).
    #[arg(long, short = 'P', visible_alias = "np", default_value_t = 4)]
    pub parallel: usize,
    /// Requests that may wait for a sequence; beyond, 429.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Largest request body in bytes; beyond, 413.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Seconds in-flight requests may run on after SIGTERM before they are cancelled.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub shutdown_timeout: f64,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn serve(a: ServeArgs) -> Result<()> {
    let model = a.model.load()?;
    let max_ctx = model.config().max_position_embeddings;
    anyhow::ensure!(
        a.ctx >= 1 && a.ctx <= max_ctx,
        "--ctx {} is out of range: the model supports 1 to {max_ctx} positions",
        a.ctx
    );
    anyhow::ensure!(a.parallel >= 1, "--parallel must be at least 1");
    anyhow::ensure!(
        a.shutdown_timeout.is_finite() && a.shutdown_timeout >= 0.0,
        "--shutdown-timeout must be a number of seconds >= 0"
    );
    let config = ServerConfig {
        host: a.host,
        port: a.port,
        api_key: a.api_key.filter(|k| !k.is_empty()),
        ctx: a.ctx,
        parallel: a.parallel,
        queue: a.queue,
        threads: a
            .threads
            .unwrap_or_else(gemma_engine::default_threads)
            .max(1),
        max_body: a.max_body,
        shutdown_timeout: Duration::from_secs_f64(a.shutdown_timeout),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = format!(
        "model {} (ctx {} per sequence, {} in parallel, queue {}, {} threads{})",
        model.path.display(),
        config.ctx,
        config.parallel,
        config.queue,
        config.threads,
        if config.api_key.is_some() {
            ", API key required"
        } else {
            ""
        },
    );
    let (host, port) = (config.host.clone(), config.port);
    rt.block_on(async move {
        let state = AppState::new(model, config);
        gemma_server::serve(state, |addr| {
            eprintln!("gemma serve: {summary}");
            eprintln!("gemma serve: listening on http://{addr}");
        })
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))
    })?;
    eprintln!("gemma serve: stopped");
    Ok(())
}
