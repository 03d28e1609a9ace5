//! The one threading layer of the forward pass: splitting rows, heads and tokens across threads.
//!
//! Work runs on the persistent pool of [`crate::pool`]; each part gets one contiguous range.

use std::ops::Range;
use std::sync::Mutex;

use crate::pool::pool;

/// Split `n` units into at most `threads` contiguous ranges of near-equal size.
pub fn split(n: usize, threads: usize) -> Vec<Range<usize>> {
    let t = threads.clamp(1, n.max(1));
    let base = n / t;
    let extra = n % t;
    let mut out = Vec::with_capacity(t);
    let mut start = 0;
    for i in 0..t {
        let len = base + usize::from(i < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

/// Run `f(unit_range, out_chunk)` over `out` cut into `n_units` units of `unit_len` values each,
/// spread over `threads` threads; each thread gets a contiguous run of units.
pub fn for_units<T, F>(out: &mut [T], unit_len: usize, threads: usize, f: F)
where
    T: Send,
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    let n_units = out.len().checked_div(unit_len).unwrap_or(0);
    let ranges = split(n_units, threads);
    if ranges.len() <= 1 {
        f(0..n_units, out);
        return;
    }
    let mut parts = Vec::with_capacity(ranges.len());
    let mut rest = out;
    for r in ranges {
        let (chunk, tail) = rest.split_at_mut(r.len() * unit_len);
        rest = tail;
        parts.push(Mutex::new(Some((r, chunk))));
    }
    pool(threads).run(parts.len(), &|i| {
        let part = parts[i].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((r, chunk)) = part {
            f(r, chunk);
        }
    });
}

/// Run `f(range)` for ranges covering `0..n` on `threads` threads and collect each result.
pub fn map_ranges<T, F>(n: usize, threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(Range<usize>) -> T + Sync,
{
    let ranges = split(n, threads);
    if ranges.len() <= 1 {
        return ranges.into_iter().map(&f).collect();
    }
    let results: Vec<Mutex<Option<T>>> = ranges.iter().map(|_| Mutex::new(None)).collect();
    pool(threads).run(ranges.len(), &|i| {
        let v = f(ranges[i].clone());
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every part ran")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything_once() {
        for n in 0..20 {
            for t in 1..6 {
                let r = split(n, t);
                assert_eq!(r.first().map(|r| r.start), Some(0));
                assert_eq!(r.last().map(|r| r.end), Some(n));
                assert!(r.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }

    #[test]
    fn for_units_visits_every_unit() {
        let mut out = vec![0.0f32; 3 * 7];
        for_units(&mut out, 3, 4, |r, chunk| {
            for (k, u) in r.enumerate() {
                chunk[k * 3..k * 3 + 3].fill(u as f32);
            }
        });
        for u in 0..7 {
            assert!(out[u * 3..u * 3 + 3].iter().all(|&v| v == u as f32));
        }
    }
}
