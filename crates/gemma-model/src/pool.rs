//! A persistent thread pool with low-latency hand-off: workers wait for the next job by
//! spinning briefly, then yielding, then sleeping, so a busy machine is not starved.
//!
//! One job at a time: `run(parts, f)` calls `f(0)` on the calling thread and `f(1..parts)` on
//! workers, and returns when all are done. A panic in any part is re-raised in the caller.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Busy-wait iterations before a waiter starts yielding.
const SPIN: u32 = 4_000;
/// How long a waiter yields before it sleeps.
const YIELD_FOR: Duration = Duration::from_millis(2);

/// A job as the workers see it: a borrowed closure whose lifetime `run` guarantees.
type Job = &'static (dyn Fn(usize) + Sync);

struct Shared {
    /// Incremented once per job (and once at shutdown).
    epoch: AtomicUsize,
    /// The current job, its number of parts and its epoch.
    job: Mutex<Option<(Job, usize, usize)>>,
    /// Parts still running on workers.
    remaining: AtomicUsize,
    /// A part panicked; its payload.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    panicked: AtomicBool,
    /// Sleeping workers wait here.
    sleepers: AtomicUsize,
    wake: Condvar,
    wake_lock: Mutex<()>,
    shutdown: AtomicBool,
}

/// A pool of `threads - 1` workers plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: usize,
    /// One job at a time.
    running: Mutex<()>,
}

/// Waits until `done()` holds: spin, then yield, then (if `sleep` is given) sleep on it.
fn wait_until(done: impl Fn() -> bool, sleep: Option<&dyn Fn()>) {
    for _ in 0..SPIN {
        if done() {
            return;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    while !done() {
        if start.elapsed() < YIELD_FOR {
            thread::yield_now();
        } else if let Some(sleep) = sleep {
            sleep();
        } else {
            thread::yield_now();
        }
    }
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let workers = threads.saturating_sub(1);
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: Mutex::new(None),
            remaining: AtomicUsize::new(0),
            panic: Mutex::new(None),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
            shutdown: AtomicBool::new(false),
        });
        for id in 1..=workers {
            let s = shared.clone();
            thread::Builder::new()
                .name(format!("gemma-worker-{id}"))
                .spawn(move || worker(&s, id))
                .expect("cannot start a worker thread");
        }
        Pool {
            shared,
            workers,
            running: Mutex::new(()),
        }
    }

    /// Threads this pool runs a job on (workers and the caller).
    pub fn threads(&self) -> usize {
        self.workers + 1
    }

    /// Runs `f(i)` for every `i` in `0..parts` (`parts` at most [`Pool::threads`]), `f(0)` on
    /// the calling thread, and returns when every part has finished.
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        assert!(
            parts <= self.threads(),
            "{parts} parts for {} threads",
            self.threads()
        );
        if parts <= 1 {
            if parts == 1 {
                f(0);
            }
            return;
        }
        let _one_job = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // SAFETY: the reference is only used by workers between the epoch increment below and
        // `remaining` reaching zero, and this function does not return (nor unwind: the
        // caller's own part runs under catch_unwind) before `remaining` is zero, so `f`
        // outlives every use.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        let epoch = s.epoch.load(Ordering::SeqCst) + 1;
        s.remaining.store(parts - 1, Ordering::SeqCst);
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some((job, parts, epoch));
        s.epoch.store(epoch, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        wait_until(|| s.remaining.load(Ordering::Acquire) == 0, None);
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::SeqCst) {
            let p = s.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
            resume_unwind(p.unwrap_or_else(|| Box::new("a worker thread panicked")));
        }
    }
}

fn worker(s: &Shared, id: usize) {
    let mut seen = 0usize;
    loop {
        let sleep = || {
            let g = s.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            if s.epoch.load(Ordering::SeqCst) == seen {
                let _ = s.wake.wait_timeout(g, Duration::from_millis(50));
            }
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
        };
        wait_until(|| s.epoch.load(Ordering::Acquire) != seen, Some(&sleep));
        if s.shutdown.load(Ordering::SeqCst) {
            return;
        }
        // Each job runs at most once per worker: the slot carries its epoch.
        let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
        let Some((f, parts, epoch)) = job.filter(|j| j.2 != seen) else {
            seen = s.epoch.load(Ordering::Acquire);
            continue;
        };
        seen = epoch;
        {
            if id < parts {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(id))) {
                    *s.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                    s.panicked.store(true, Ordering::SeqCst);
                }
                s.remaining.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.shutdown.store(true, Ordering::SeqCst);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        let _g = s.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
        s.wake.notify_all();
    }
}

/// The process-wide pool for `threads` threads (created on first use, kept for reuse).
pub fn pool(threads: usize) -> &'static Pool {
    static POOLS: OnceLock<Mutex<HashMap<usize, &'static Pool>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    pools
        .entry(threads.max(1))
        .or_insert_with(|| Box::leak(Box::new(Pool::new(threads.max(1)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_per_job() {
        let p = pool(3);
        for parts in [0, 1, 2, 3] {
            for _ in 0..2000 {
                let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
                p.run(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                for (i, h) in hits.iter().enumerate() {
                    assert_eq!(h.load(Ordering::Relaxed), usize::from(i < parts));
                }
            }
        }
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_pool_survives() {
        let p = pool(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            p.run(2, &|i| {
                if i == 1 {
                    panic!("part one fails");
                }
            })
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        p.run(2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn callers_on_several_threads_share_a_pool() {
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        pool(2).run(2, &|_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 500 * 2);
    }

    #[test]
    fn sleeping_workers_wake_up() {
        let p = pool(2);
        thread::sleep(YIELD_FOR * 10);
        let n = AtomicUsize::new(0);
        p.run(2, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }
}
