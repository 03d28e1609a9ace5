//! Running a task: results are appended as questions finish, an interrupted run resumes where
//! it stopped (a torn last line is redone), and the metrics are the same either way.

use std::io::Write;

use gemma_engine::LoadedModel;
use gemma_eval::tasks::task;
use gemma_eval::{load_docs, run_task, RunConfig};

#[test]
fn an_interrupted_run_resumes_with_the_same_results() {
    let path = gemma_hub::ensure_default_model(true).unwrap();
    let m = LoadedModel::load(&path).unwrap();
    let t = task("arc_easy").unwrap();
    let (docs, pool) = load_docs(t, 1).unwrap();
    let docs = &docs[..6];
    let cfg = RunConfig {
        shots: 1,
        limit: Some(6),
        seed: 1234,
        ctx: 1024,
        threads: 2,
    };
    let dir = tempfile::tempdir().unwrap();
    let resume = dir.path().join("arc.jsonl");
    let mut seen = 0;
    let full = run_task(&m, t, docs, &pool, &cfg, Some(&resume), |p| seen = p.done).unwrap();
    assert_eq!((full.n, full.resumed, seen), (6, 0, 6));
    let lines = std::fs::read_to_string(&resume).unwrap();
    assert_eq!(lines.lines().count(), 7); // the run's key, then one line per question
                                          // Interrupt: keep the key, three results and half of the fourth line.
    let kept: Vec<&str> = lines.lines().collect();
    let mut f = std::fs::File::create(&resume).unwrap();
    for l in &kept[..4] {
        writeln!(f, "{l}").unwrap();
    }
    write!(f, "{}", &kept[4][..kept[4].len() / 2]).unwrap();
    drop(f);
    let again = run_task(&m, t, docs, &pool, &cfg, Some(&resume), |_| {}).unwrap();
    assert_eq!(again.resumed, 3);
    assert_eq!(again.metrics, full.metrics);
    assert_eq!(std::fs::read_to_string(&resume).unwrap().lines().count(), 7);
    // Another configuration does not reuse these results.
    let other = RunConfig { seed: 99, ..cfg };
    let fresh = run_task(&m, t, docs, &pool, &other, Some(&resume), |_| {}).unwrap();
    assert_eq!(fresh.resumed, 0);
}
