//! Server metrics in Prometheus' text format: requests by route and status, tokens, load
//! gauges and latency histograms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gemma_engine::BatcherStats;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// A cumulative histogram over [`BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (c, &b) in self.counts.iter_mut().zip(&BUCKETS) {
            if v <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (c, b) in self.counts.iter().zip(&BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// Everything the server counts.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    cancelled: AtomicU64,
    ttft: Mutex<Histogram>,
    duration: Mutex<Histogram>,
    per_token: Mutex<Histogram>,
}

impl Metrics {
    /// Counts a finished HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((route.to_string(), status)).or_default() += 1;
    }

    /// Counts a generation's tokens and latencies (seconds; `ttft` when a token came).
    pub fn generation(&self, prompt: usize, generated: usize, ttft: Option<f64>, total: f64) {
        self.prompt_tokens
            .fetch_add(prompt as u64, Ordering::Relaxed);
        self.generated_tokens
            .fetch_add(generated as u64, Ordering::Relaxed);
        if let Some(t) = ttft {
            lock(&self.ttft).observe(t);
            if generated > 1 {
                lock(&self.per_token).observe((total - t) / (generated - 1) as f64);
            }
        }
        lock(&self.duration).observe(total);
    }

    /// Counts a generation cancelled (client gone or shutdown).
    pub fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with the batcher's load and the requests in flight.
    pub fn render(&self, load: BatcherStats, in_flight: usize) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let _ = writeln!(
            out,
            "# HELP gemma_requests_total HTTP requests answered, by route and status.\n\
             # TYPE gemma_requests_total counter"
        );
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "gemma_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let tokens = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "gemma_prompt_tokens_total",
            "Prompt tokens evaluated.",
            tokens(&self.prompt_tokens),
        );
        counter(
            &mut out,
            "gemma_generated_tokens_total",
            "Tokens generated.",
            tokens(&self.generated_tokens),
        );
        counter(
            &mut out,
            "gemma_generations_cancelled_total",
            "Generations cancelled by a client leaving or by shutdown.",
            tokens(&self.cancelled),
        );
        counter(
            &mut out,
            "gemma_batch_steps_total",
            "Batch steps run by the continuous batcher.",
            load.steps,
        );
        gauge(
            &mut out,
            "gemma_queue_length",
            "Requests waiting for a sequence slot.",
            load.waiting as u64,
        );
        gauge(
            &mut out,
            "gemma_active_sequences",
            "Sequences being evaluated.",
            load.active as u64,
        );
        gauge(
            &mut out,
            "gemma_requests_in_flight",
            "Generation requests being answered.",
            in_flight as u64,
        );
        lock(&self.ttft).write(
            &mut out,
            "gemma_time_to_first_token_seconds",
            "Time from a generation request's arrival to its first token.",
        );
        lock(&self.per_token).write(
            &mut out,
            "gemma_time_per_output_token_seconds",
            "Mean time between a request's tokens after the first.",
        );
        lock(&self.duration).write(
            &mut out,
            "gemma_request_duration_seconds",
            "Time from a generation request's arrival to its end.",
        );
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_add_up() {
        let m = Metrics::default();
        m.generation(10, 5, Some(0.02), 0.5);
        m.generation(7, 0, None, 0.004);
        m.request("/v1/completions", 200);
        m.request("/v1/completions", 200);
        m.request("/v1/completions", 429);
        let text = m.render(
            BatcherStats {
                waiting: 3,
                active: 2,
                steps: 9,
            },
            1,
        );
        for line in [
            "gemma_requests_total{route=\"/v1/completions\",status=\"200\"} 2",
            "gemma_requests_total{route=\"/v1/completions\",status=\"429\"} 1",
            "gemma_prompt_tokens_total 17",
            "gemma_generated_tokens_total 5",
            "gemma_queue_length 3",
            "gemma_active_sequences 2",
            "gemma_time_to_first_token_seconds_bucket{le=\"0.01\"} 0",
            "gemma_time_to_first_token_seconds_bucket{le=\"0.025\"} 1",
            "gemma_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1",
            "gemma_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "gemma_request_duration_seconds_bucket{le=\"0.5\"} 2",
            "gemma_request_duration_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
