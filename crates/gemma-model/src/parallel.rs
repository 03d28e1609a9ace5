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

/// Split `0..n` into at most `threads` contiguous ranges of near-equal total `cost`, each
/// starting at a multiple of `align` (except that ranges may be empty at the end).
pub fn split_by_cost(
    n: usize,
    threads: usize,
    align: usize,
    cost: impl Fn(usize) -> u64,
) -> Vec<Range<usize>> {
    let t = threads.clamp(1, n.max(1));
    let align = align.max(1);
    let costs: Vec<u64> = (0..n).map(cost).collect();
    let total: u64 = costs.iter().sum();
    let mut out = Vec::with_capacity(t);
    let (mut start, mut acc, mut i) = (0, 0u64, 0);
    for part in 1..t as u64 {
        // Grow the range in steps of `align` while a step brings it nearer its share.
        let goal = total * part / t as u64;
        while i < n {
            let step = (i + align).min(n);
            let c: u64 = costs[i..step].iter().sum();
            if acc + c / 2 >= goal {
                break;
            }
            acc += c;
            i = step;
        }
        out.push(start..i);
        start = i;
    }
    out.push(start..n);
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
    let chunks = cut(out, unit_len, &ranges);
    run_parts(
        threads,
        ranges.into_iter().zip(chunks).collect(),
        |(r, chunk)| f(r, chunk),
    );
}

/// `buf` cut at the boundaries of `ranges` (contiguous, from 0) of units of `unit_len` values:
/// one mutable piece per range.
pub fn cut<'a, T>(buf: &'a mut [T], unit_len: usize, ranges: &[Range<usize>]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut rest = buf;
    for r in ranges {
        let (piece, tail) = rest.split_at_mut(r.len() * unit_len);
        rest = tail;
        out.push(piece);
    }
    out
}

/// Run `f(part)` for every part, each on its own thread of the `threads`-thread pool (the
/// first on the calling thread); returns when all are done. At most `threads` parts.
pub fn run_parts<P, F>(threads: usize, parts: Vec<P>, f: F)
where
    P: Send,
    F: Fn(P) + Sync,
{
    if parts.len() <= 1 {
        parts.into_iter().for_each(f);
        return;
    }
    let n = parts.len();
    let slots: Vec<Mutex<Option<P>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    pool(threads.max(n)).run(n, &|i| {
        let part = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = part {
            f(p);
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
    fn split_by_cost_balances_and_aligns() {
        // Causal attention: token t costs t + 1.
        let r = split_by_cost(128, 2, 2, |t| t as u64 + 1);
        assert_eq!(r, vec![0..90, 90..128]);
        let cost = |r: &Range<usize>| r.clone().map(|t| t as u64 + 1).sum::<u64>();
        assert!(cost(&r[0]).abs_diff(cost(&r[1])) <= 200);
        for n in 0..40 {
            for t in 1..5 {
                for align in 1..4 {
                    let r = split_by_cost(n, t, align, |i| (i % 7) as u64);
                    assert_eq!(r.first().map(|r| r.start), Some(0));
                    assert_eq!(r.last().map(|r| r.end), Some(n));
                    assert!(r.windows(2).all(|w| w[0].end == w[1].start));
                    assert!(r.iter().all(|r| r.start % align == 0 || r.is_empty()));
                    assert!(r.len() <= t.max(1));
                }
            }
        }
        // Equal costs: the plain split.
        assert_eq!(split_by_cost(10, 2, 1, |_| 1), split(10, 2));
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
