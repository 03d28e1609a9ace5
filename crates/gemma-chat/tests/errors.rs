//! Malformed and hostile input: templates that do not compile, templates that fail at render
//! time or try to run forever or allocate without bound, and malformed tokenizer configs all
//! give errors (naming the origin, file and field), never panics or hangs.

use std::time::{Duration, Instant};

use gemma_chat::{fold_system, ChatError, ChatTemplate, Message, DEFAULT_FUEL};

fn hi() -> Vec<Message> {
    vec![Message::user("hi")]
}

#[test]
fn syntax_errors_name_origin_and_line() {
    let cases = [
        ("{% if x %}unclosed", None),
        ("line one\nline two\n{{ 1 + }}", Some(3)),
        ("{% for %}{% endfor %}", Some(1)),
        ("{{ messages[0 }}", Some(1)),
        ("ok\n{% endfor %}", Some(2)),
        ("{% unknown_tag %}", Some(1)),
        ("{{ 'unterminated }}", Some(1)),
    ];
    for (source, line) in cases {
        let err = ChatTemplate::with_origin(
            "model.gguf: tokenizer.chat_template",
            source,
            "<bos>",
            "<eos>",
        )
        .expect_err(source);
        match &err {
            ChatError::Syntax {
                origin,
                line: got,
                message,
            } => {
                assert_eq!(origin, "model.gguf: tokenizer.chat_template");
                assert!(!message.is_empty());
                if line.is_some() {
                    assert_eq!(*got, line, "{source}: {err}");
                }
            }
            other => panic!("{source}: {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("model.gguf: tokenizer.chat_template"),
            "{text}"
        );
    }
}

#[test]
fn render_errors_are_errors() {
    let cases = [
        "{{ messages[0].content.no_such_method() }}",
        "{{ messages[7].role }}",
        "{{ undefined_thing.attr }}",
        "{{ 1 / 0 }}",
        "{{ messages | no_such_filter }}",
        "{{ no_such_function() }}",
        "{{ raise_exception() }}",
        "{{ messages | tojson(indent=1.5) }}",
        "{{ messages | tojson(bogus=1) }}",
        "{{ {(1, 2): 3} | tojson }}",
        "{{ {'a': 1, 2: 3} | tojson(sort_keys=true) }}",
        "{{ x | tojson }}",
        "{{ strftime_now('%Q') }}",
    ];
    for source in cases {
        let t = ChatTemplate::new(source, "<bos>", "<eos>");
        let err = match t {
            Err(err) => err,
            Ok(t) => t.render(&hi(), false).expect_err(source),
        };
        assert!(
            matches!(err, ChatError::Render { .. } | ChatError::Syntax { .. }),
            "{source}: {err:?}"
        );
    }
}

#[test]
fn raise_exception_message_is_kept() {
    let sources = [
        "{{ raise_exception('Bad role: ' ~ messages[0].role) }}",
        "{% macro check(m) %}{{ raise_exception('Bad role: ' ~ m.role) }}{% endmacro %}{% for m in messages %}{{ check(m) }}{% endfor %}",
        "{% set ns = namespace(ok=false) %}{% if not ns.ok %}{{ raise_exception('Bad role: ' + messages[0]['role']) }}{% endif %}",
    ];
    for source in sources {
        let t = ChatTemplate::new(source, "", "").expect("compiles");
        match t.render_exact(&hi(), false) {
            Err(ChatError::Template { message, origin }) => {
                assert_eq!(message, "Bad role: user", "{source}");
                assert_eq!(origin, "(chat template)");
            }
            other => panic!("{source}: {other:?}"),
        }
    }
}

/// Runs a hostile template and checks that it fails quickly with a render error.
fn assert_stopped(source: &str) {
    let t = ChatTemplate::new(source, "<bos>", "<eos>").expect(source);
    let start = Instant::now();
    let result = t.render(&hi(), false);
    let took = start.elapsed();
    eprintln!("{took:?} for {source}");
    let err = match result {
        Ok(out) => panic!("{source}: rendered {} bytes", out.len()),
        Err(err) => err,
    };
    assert!(matches!(err, ChatError::Render { .. }), "{source}: {err:?}");
    assert!(took < Duration::from_secs(10), "{source}: took {took:?}");
}

#[test]
fn hostile_templates_are_stopped() {
    // Billions of iterations.
    assert_stopped(
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
    );
    // Exponential recursion, and unbounded recursion.
    assert_stopped("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}");
    assert_stopped("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    // Doubling a string: 2^64 bytes if nothing stopped it.
    assert_stopped("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}");
    assert_stopped("{{ 'x' * 100000000000 }}");
    // 1 GB of output, or of JSON.
    assert_stopped("{% for i in range(100000) %}{{ 'y' * 10000 }}{% endfor %}");
    assert_stopped("{% for i in range(100000) %}{{ ('y' * 10000) | tojson }}{% endfor %}");
    // A namespace that contains itself: printing or serializing it would never end.
    assert_stopped("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns | tojson }}");
    assert_stopped("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns }}");
    assert_stopped("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns | pprint }}");
}

/// Lists nested as deep as the fuel allows are formatted and freed without overflowing the
/// stack of the calling thread (test threads have 2 MiB).
#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    let build = "{% set ns = namespace(x=none) %}{% for j in range(400) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}";
    for (tail, want) in [("ok", "ok"), ("{{ ('a' ~ ns.x) | length }}", "800005")] {
        let t = ChatTemplate::new(&format!("{build}{tail}"), "", "").expect("compiles");
        assert_eq!(t.render(&hi(), false).expect("within the fuel"), want);
    }
    // Deeper: out of fuel, and the partial value is freed safely too.
    let deeper = build.replace("range(400)", "range(5000)");
    let t = ChatTemplate::new(&format!("{deeper}ok"), "", "").expect("compiles");
    assert!(matches!(
        t.render(&hi(), false),
        Err(ChatError::Render { .. })
    ));
}

#[test]
fn fuel_can_be_raised_or_removed() {
    let source = "{% for i in range(50000) %}{% for j in range(200) %}{% endfor %}{% endfor %}done";
    let t = ChatTemplate::new(source, "", "").expect("compiles");
    assert!(
        t.render(&hi(), false).is_err(),
        "10M iterations exceed {DEFAULT_FUEL}"
    );
    let t = t.with_fuel(Some(DEFAULT_FUEL * 100));
    assert_eq!(t.render(&hi(), false).expect("enough fuel"), "done");
}

#[test]
fn large_conversations_fit_the_default_fuel() {
    // 2000 turns and 4 MB of text render with the default budget.
    let conv: Vec<Message> = (0..2000)
        .map(|i| {
            let text = format!("turn {i} ").repeat(250);
            if i % 2 == 0 {
                Message::user(text)
            } else {
                Message::assistant(text)
            }
        })
        .collect();
    let t = ChatTemplate::builtin_gemma("<bos>");
    let out = t.render(&conv, true).expect("renders");
    assert!(out.len() > 4_000_000);
}

#[test]
fn conversation_shape_errors() {
    let t = ChatTemplate::builtin_gemma("<bos>");
    assert!(matches!(
        t.render(&[], true),
        Err(ChatError::EmptyConversation)
    ));
    assert!(matches!(fold_system(&[]), Ok(v) if v.is_empty()));
    let err = t
        .render(
            &[
                Message::system("a"),
                Message::system("b"),
                Message::user("c"),
            ],
            true,
        )
        .expect_err("two systems");
    assert!(
        matches!(err, ChatError::UnexpectedRole { index: 1, ref got, .. } if got == "system"),
        "{err}"
    );
    let err = t
        .render(&[Message::system("a")], true)
        .expect_err("system only");
    assert!(
        matches!(err, ChatError::SystemWithoutUser { index: 0 }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("message 0"), "{msg}");
}

#[test]
fn template_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ChatTemplate>();
}
