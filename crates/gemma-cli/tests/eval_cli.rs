//! `gemma eval` on every task at `--limit 20` (CI's smoke run of each task), its JSON report,
//! and a second run that resumes every question.

use std::process::Command;

use serde_json::Value;

#[test]
fn every_task_runs_at_a_small_limit_and_resumes() {
    let bin = env!("CARGO_BIN_EXE_gemma");
    let home = tempfile::tempdir().unwrap();
    // Results go to a private $GEMMA_HOME; the model and data come from the shared cache.
    let shared = gemma_hub::gemma_home();
    let model = gemma_hub::ensure_default_model(true).unwrap();
    gemma_eval::eval_data_root(true).unwrap();
    std::os::unix::fs::symlink(shared.join("datasets"), home.path().join("datasets")).unwrap();
    let run = || {
        let out = Command::new(bin)
            .args([
                "eval", "--task", "all", "--limit", "20", "-t", "2", "--json", "--model",
            ])
            .arg(&model)
            .env("GEMMA_HOME", home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (report, _) = run();
    let tasks = report["tasks"].as_object().unwrap();
    assert_eq!(tasks.len(), 13, "{report}");
    for (name, t) in tasks {
        assert_eq!(t["n"], 20, "{name}");
        let main = if t.get("exact_match").is_some() {
            "exact_match"
        } else {
            "acc"
        };
        let v = t[main].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{name} {main} = {v}");
        assert!(t[format!("{main}_stderr")].as_f64().unwrap().is_finite());
    }
    assert!(tasks["arc_easy"].get("acc_norm").is_some());
    assert_eq!(tasks["mmlu"]["shots"], 5);
    let (again, stderr) = run();
    assert_eq!(again["tasks"], {
        let mut t = report["tasks"].clone();
        for (name, v) in t.as_object_mut().unwrap() {
            v["seconds"] = again["tasks"][name]["seconds"].clone();
        }
        t
    });
    assert_eq!(stderr.matches("(20 resumed)").count(), 13, "{stderr}");
}
