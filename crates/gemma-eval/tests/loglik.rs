//! The batched, prefix-sharing scorer gives exactly what scoring each request alone gives.

use gemma_engine::{token_logprob, LoadedModel, Logits};
use gemma_eval::{LoglikRequest, Scorer};

#[test]
fn shared_prefix_batched_scores_equal_one_request_at_a_time() {
    let path = gemma_hub::ensure_default_model(true).unwrap();
    let m = LoadedModel::load(&path).unwrap();
    let tok = |s: &str, bos| m.tokenize(s, bos).unwrap();
    let ctx = tok("Question: Which is a colour?\nAnswer:", true);
    let mut reqs: Vec<LoglikRequest> = [" red", " a table", " seventeen point five", " blue"]
        .iter()
        .map(|c| LoglikRequest {
            context: ctx.clone(),
            continuation: tok(c, false),
        })
        .collect();
    // A request with another context (winogrande's shape), and one whose context is the
    // shared prefix itself.
    reqs.push(LoglikRequest {
        context: tok("Question: Which is a fruit?\nAnswer:", true),
        continuation: tok(" apple", false),
    });
    reqs.push(LoglikRequest {
        context: tok("Question:", true),
        continuation: tok(" why", false),
    });
    let vocab = m.config().vocab_size;
    for threads in [1, 2] {
        let got = Scorer::new(m.clone(), 512, threads).score(&reqs).unwrap();
        for (r, g) in reqs.iter().zip(&got) {
            let mut all = r.context.clone();
            all.extend_from_slice(&r.continuation);
            let mut cache = m.model.new_cache(512);
            let rows = m.model.forward(&all, &mut cache, Logits::All, 2).unwrap();
            let mut want = 0.0f64;
            let mut greedy = true;
            for (k, &id) in r.continuation.iter().enumerate() {
                let p = r.context.len() - 1 + k;
                let t = token_logprob(&rows[p * vocab..(p + 1) * vocab], id, 1);
                want += f64::from(t.logprob);
                greedy &= t.top[0].0 == id;
            }
            assert_eq!(
                g.logprob.to_bits(),
                want.to_bits(),
                "{r:?}: {} vs {want}",
                g.logprob
            );
            assert_eq!(g.greedy, greedy);
        }
        // A colour beats a number after "Which is a colour?".
        assert!(got[0].logprob > got[2].logprob);
    }
    assert!(Scorer::new(m.clone(), 512, 2)
        .score(&[LoglikRequest {
            context: vec![],
            continuation: vec![1]
        }])
        .is_err());
}
