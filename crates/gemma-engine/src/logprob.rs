//! Log-probabilities of tokens under the model's distribution (log-softmax of the raw logits),
//! with the most likely alternatives, as the OpenAI API's `logprobs` reports them.

/// A token's log-probability and the most likely tokens at its position.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    /// The token.
    pub id: u32,
    /// Its natural-log probability.
    pub logprob: f32,
    /// The `top` most likely tokens at this position with their log-probabilities, most likely
    /// first (ties by lower id).
    pub top: Vec<(u32, f32)>,
}

/// Log-probability of `id` under the softmax of `logits`, and the `top` most likely tokens.
///
/// The normaliser is summed in f64 from the maximum, so the log-probabilities of a row sum to
/// one within f32 rounding whatever the logits' scale.
///
/// # Panics
///
/// If `id` is not an index of `logits`.
pub fn token_logprob(logits: &[f32], id: u32, top: usize) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&x| f64::from(x - max).exp()).sum();
    let log_z = f64::from(max) + sum.ln();
    let lp = |x: f32| (f64::from(x) - log_z) as f32;
    TokenLogprob {
        id,
        logprob: lp(logits[id as usize]),
        top: top_ids(logits, top)
            .into_iter()
            .map(|i| (i, lp(logits[i as usize])))
            .collect(),
    }
}

/// The ids of the `n` largest logits, largest first, ties broken by lower id.
fn top_ids(logits: &[f32], n: usize) -> Vec<u32> {
    let n = n.min(logits.len());
    if n == 0 {
        return Vec::new();
    }
    let better = |a: (u32, f32), b: (u32, f32)| a.1 > b.1 || (a.1 == b.1 && a.0 < b.0);
    // A short list kept sorted: the candidates beat its last entry only rarely.
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    for (i, &x) in logits.iter().enumerate() {
        let c = (i as u32, x);
        if best.len() == n && !better(c, best[n - 1]) {
            continue;
        }
        let at = best
            .iter()
            .position(|&b| better(c, b))
            .unwrap_or(best.len());
        best.insert(at, c);
        best.truncate(n);
    }
    best.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_a_normalised_log_softmax() {
        let logits = [1.0f32, 3.0, -2.0, 3.0, 0.5];
        let z: f64 = logits.iter().map(|&x| f64::from(x).exp()).sum();
        for id in 0..5u32 {
            let t = token_logprob(&logits, id, 0);
            let want = (f64::from(logits[id as usize]).exp() / z).ln();
            assert!((f64::from(t.logprob) - want).abs() < 1e-6, "{id}: {t:?}");
        }
        let total: f64 = (0..5u32)
            .map(|i| f64::from(token_logprob(&logits, i, 0).logprob).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
        // Large logits do not overflow.
        let big = [1000.0f32, 999.0];
        let t = token_logprob(&big, 1, 2);
        assert!((t.logprob - (-1.313_261_7)).abs() < 1e-5, "{t:?}");
    }

    #[test]
    fn top_tokens_come_most_likely_first_ties_by_id() {
        let logits = [1.0f32, 3.0, -2.0, 3.0, 0.5];
        let t = token_logprob(&logits, 2, 3);
        let ids: Vec<u32> = t.top.iter().map(|p| p.0).collect();
        assert_eq!(ids, [1, 3, 0]);
        assert!(t.top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(token_logprob(&logits, 0, 9).top.len(), 5);
    }
}
