#!/usr/bin/env python3
"""Build the tokenizer golden corpus for crates/gemma-tokenizer from llama.cpp.

Builds a deterministic corpus of strings (hand-written plus generated with a seeded RNG),
tokenizes each with llama.cpp through llama-cpp-python (vocab only, no weights loaded), and
records llama.cpp's detokenized text for each id list. Also records a few random id
sequences (byte tokens, control tokens, ...) with llama.cpp's detokenized bytes.

Usage:
    python scripts/make_tokenizer_golden.py [MODEL.gguf] [OUT.jsonl]

Defaults: $GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf (GEMMA_HOME defaults to
~/.cache/gemma-rs) and crates/gemma-tokenizer/tests/data/gemma3_gguf_golden.jsonl.

Output: one JSON object per line. The first line is a header naming this script, the
llama-cpp-python version, the model file's sha256 and the date. Then one record per string:
  text           the input string
  ids_special    llama_tokenize(text, add_special=True,  parse_special=True)
  ids_plain      llama_tokenize(text, add_special=False, parse_special=False)
  detok_special  llama_detokenize(ids_special, remove_special=False, unparse_special=True)
  detok_special_hidden  same with unparse_special=False
  detok_plain    llama_detokenize(ids_plain, remove_special=False, unparse_special=False)
and decode-only records {"decode_ids", "bytes_render_hex", "bytes_hidden_hex"}.

Detokenization calls the C function llama_detokenize directly: llama-cpp-python's
Llama.detokenize truncates pieces longer than 32 bytes and drops a leading space after BOS,
neither of which is llama.cpp's behaviour.
"""

import ctypes
import datetime
import hashlib
import json
import os
import random
import sys

import llama_cpp

SEED = 20250607
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "crates", "gemma-tokenizer", "tests", "data", "gemma3_gguf_golden.jsonl")


def default_model():
    home = os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")
    return os.path.join(home, "models", "gemma-3-270m-q4_k_m.gguf")


# ---------------------------------------------------------------- corpus

PROSE = [
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "I can't believe it's not butter; you're right, we'll see.",
    "Dr. Smith (born 1962) said: \"Don't panic!\" -- and left.",
    "She sells sea-shells on the sea-shore... or does she?",
    "e.g. i.e. etc. vs. Mr. Mrs. Ms. Jr. Sr.",
    "ALL CAPS SENTENCE WITH SHOUTING AND NUMBERS 123",
    "mIxEd CaSe WoRdS aNd PuNcTuAtIoN?!",
    "Tokenization is the process of splitting text into pieces.",
    "Antidisestablishmentarianism is a long word.",
    "Café, naïve, résumé, coöperate, Zürich, São Paulo, Ångström.",
    "Straße, Mädchen, Übermut, schön.",
    "¿Dónde está la biblioteca? ¡Aquí!",
    "L'été dernier, j'ai visité l'île d'Oléron.",
    "The price is $4.99 (€4.50, £3.99, ¥600).",
    "Temperature: -40°C = -40°F; 100% sure ± 0.5‰.",
    "“Smart quotes” and ‘single ones’ — with em dashes – and en dashes…",
    "Line one.\nLine two.\nLine three.",
    "Paragraph one.\n\nParagraph two.\n\n\nParagraph three.",
    "Windows line endings\r\nare here\r\n",
    "Tab\tseparated\tvalues\there",
    "a",
    " ",
    "I",
    ".",
    "Once upon a time, in a land far, far away, there lived a tokenizer who loved merging pieces.",
    "What's the capital of France? The capital of France is Paris.",
    "To be, or not to be: that is the question.",
]

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import numpy as np\n\nx = np.arange(10)\nprint(x.mean())  # 4.5\n",
    "class Foo:\n\tdef __init__(self):\n\t\tself.x = 1\n\n\tdef bar(self):\n\t\treturn self.x\n",
    "for i in range(10):\n    print(f\"{i:03d}: {i ** 2}\")",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}\n",
    "impl<'a, T: Clone + Send> Iterator for Iter<'a, T> {\n    type Item = &'a T;\n}",
    "#[derive(Debug, Clone, PartialEq)]\npub struct Point { x: f64, y: f64 }",
    "match x { Some(v) => v, None => return Err(\"none\".into()) }",
    '{"name": "gemma", "version": 3, "params": [270, 1000], "ok": true, "nested": {"a": null}}',
    '{\n  "key": "value",\n  "list": [\n    1,\n    2,\n    3\n  ]\n}',
    "<!DOCTYPE html>\n<html>\n<head><title>Test</title></head>\n<body>\n<h1>Hi</h1>\n<p>Para</p>\n</body>\n</html>",
    "<table><tr><td>1</td><td>2</td></tr></table>",
    "<div class=\"x\"><span>text</span><a href=\"#\">link</a></div>",
    "<ul>\n  <li>one</li>\n  <li>two</li>\n</ul>",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name DESC LIMIT 10;",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "const f = (a, b) => a === b ? `${a}` : null; // arrow",
    "$ cargo test -p gemma-tokenizer -- --nocapture 2>&1 | tee log.txt",
    "x = [1,2,3]; y = {k: v for k, v in zip('abc', x)}",
    "if (a && b || !c) { return a->b[0]; } else { i++; j--; }",
    "    indented with four spaces\n        and eight\n            and twelve",
    "\tdef tabbed():\n\t\tpass",
    "regex: ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$",
    "<bos>print('<eos>')</s>",
]

CJK = [
    "你好，世界！",
    "今天天气很好，我们去公园散步吧。",
    "机器学习是人工智能的一个分支。",
    "中华人民共和国成立于一九四九年。",
    "こんにちは世界",
    "私は日本語を勉強しています。カタカナとひらがなと漢字。",
    "東京タワーは高いです。ｶﾀｶﾅ（半角）もあります。",
    "안녕하세요, 세계!",
    "한국어는 아름다운 언어입니다.",
    "大韓民国 서울특별시",
    "混合 text with 中文 and English 和 日本語 と 한국어.",
    "𠀀𠀁𠀂 are CJK Extension B characters.",
    "龘靐齉爩",
    "「引用」『二重引用』【括弧】〔亀甲〕",
    "１２３ＡＢＣ全角",
]

EMOJI = [
    "😀",
    "Hello 👋 world 🌍!",
    "👨‍👩‍👧‍👦",
    "👩🏽‍💻 coding",
    "🇺🇸🇯🇵🇫🇷🇩🇪",
    "👍🏻👍🏼👍🏽👍🏾👍🏿",
    "❤️ ♥ ❤ 💔",
    "🏳️‍🌈 🏴‍☠️",
    "1️⃣ 2️⃣ #️⃣",
    "🤷‍♂️🤦‍♀️",
    "😀😃😄😁😆😅😂🤣",
    "🧑‍🤝‍🧑",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "emoji🙂inside🙃words",
    "🦀 Rust 🐍 Python",
]

SCRIPTS = [
    "مرحبا بالعالم",
    "اللغة العربية جميلة جداً.",
    "ثلاثة أرقام: ١٢٣ و ٤٥٦",
    "שלום עולם",
    "עברית נכתבת מימין לשמאל.",
    "नमस्ते दुनिया",
    "हिन्दी भाषा बहुत सुंदर है।",
    "क्षत्रिय ज्ञान श्री",
    "สวัสดีชาวโลก",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Привет, мир!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Γειά σου κόσμε",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "Բարեւ աշխարհ",
    "გამარჯობა მსოფლიო",
    "ሰላም ልዑል",
    "Tiếng Việt có dấu: Xin chào thế giới",
    "Ελληνικά and English mixed: αβγ abc",
    "עברית English العربية mixed",
]

NUMBERS = [
    "1234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "12345678901234567890123456789012345678901234567890",
    "-0.000001e-10",
    "+1 (555) 123-4567",
    "1,000,000.00",
    "0x7FFFFFFF 0b101010 0o777",
    "2024-01-15T10:30:00Z",
    "v1.2.3-beta.4+build.567",
    "255.255.255.0 and 192.168.1.1",
]

WEB = [
    "https://www.example.com/path/to/page?query=1&other=two#section",
    "http://localhost:8080/api/v1/users/42",
    "ftp://files.example.org/pub/file.tar.gz",
    "Visit https://example.com or email support@example.com.",
    "john.doe+newsletter@mail.example.co.uk",
    "user_name-123@sub.domain.example",
    "mailto:someone@example.com?subject=Hello%20World",
    "file:///home/user/.cache/gemma-rs/models/",
    "https://例え.jp/パス",
    "<https://example.com/a_(b)>",
]

MARKDOWN = [
    "# Title\n\n## Subtitle\n\nSome **bold** and *italic* and `code`.",
    "- item one\n- item two\n  - nested item\n* star item",
    "1. first\n2. second\n3. third",
    "```python\nprint('hello')\n```",
    "> quoted text\n> more quote",
    "[link text](https://example.com) and ![image](img.png)",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "---\n\n***\n\n___",
    "~~strikethrough~~ and __underline__",
    "Term\n: Definition",
]

SPECIAL = [
    "<start_of_turn>user\nhi<end_of_turn>",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
    "<bos>",
    "<eos>",
    "<pad>",
    "<unk>",
    "<mask>",
    "<bos><bos>",
    "<bos>Hello",
    "text<eos>",
    "<start_of_tur",
    "<start_of_turn",
    "start_of_turn>",
    "<end_of_turn",
    "<<start_of_turn>>",
    "<start_of_turn><end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "[multimodal]",
    "<unused0>",
    "<unused42>",
    "<unused6241>",
    "<s>",
    "</s>",
    "<s>hello</s>",
    "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>x</td></tr></tbody></table>",
    "<h1>T</h1><h2>U</h2><blockquote>q</blockquote>",
    "<strong>b</strong><em>i</em><b>b</b><i>i</i><u>u</u><sub>2</sub><sup>3</sup><code>c</code>",
    "<html><body><img><span><bbox><ul><li><div><iframe><footer>",
    "</footer></iframe></div></li></ul></bbox></span></img></body></html>",
    "<caption>c</caption><tfoot>f</tfoot>",
    "<0x41>",
    "<0x0A>",
    "<0xFF><0x00>",
    "▁",
    "▁▁▁",
    "▁hello▁world",
    "<start_of_turn> user \n hi <end_of_turn>",
    "  <start_of_turn>  ",
    "\n<start_of_turn>\n",
    "<bos> <eos> <pad> <unk> <mask>",
    "<Start_Of_Turn>",
    "<start_of_turn>model\n<start_of_image>[multimodal]<end_of_image>",
    "</s></s></s>",
    "<s><s>",
    "<eos</s>",
    "<<<>>>",
    "< >",
    "<>",
    "</>",
]

BYTE_FALLBACK = [
    "\x00",
    "\x01\x02\x03",
    "\x1b[31mred\x1b[0m",
    "\x7f",
    "\ufffd",
    "\ufffd\ufffd",
    "\u0301",
    "\u0301\u0302\u0303",
    "e\u0301",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\ue000\uf8ff",
    "\U000f0000",
    "\U0010fffd",
    "\uffff",
    "\ufdd0",
    "𠀀",
    "𪚥𪚥",
    "𰻞𰻞麺",
    "\U0002a6d6",
    "\u2028\u2029",
    "\u00a0\u2002\u2003\u3000",
    "\x85",
    "\x9f",
    "\U0001d54f\U0001d550",
    "\U0001f9ff\U0001fa70",
    "ᚠᛇᚻ᛫ᛒᛦᚦ",
    "\u0e01\u0e34\u0e4e",
    "\u1f600",
]

LONG_WORDS = [
    "a" * 1000,
    "supercalifragilisticexpialidocious" * 20,
    "x" * 5000,
    "ab" * 700,
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "哈" * 500,
    "😀" * 200,
    "-" * 300,
    "=" * 100 + "\n" + "#" * 100,
    "0123456789" * 100,
]


def repeats():
    """Runs of one character or pair: equal-score merges, where llama.cpp's tie-break
    (leftmost pair first) decides the result."""
    out = []
    for unit in ["a", "e", "0", "1", ".", "!", "-", "=", "*", "ー", "哈", "ab", "ha", "123", "lol", "<>", "▁a"]:
        for n in (2, 3, 4, 5, 7, 9, 16, 33):
            out.append(unit * n)
    return out


def whitespace_strings(rng):
    out = []
    for n in range(1, 21):
        out.append(" " * n)
        out.append("\t" * n)
        out.append("\n" * n)
    for n in (25, 31, 32, 33, 40, 64):
        out.append(" " * n)
        out.append("\t" * n)
        out.append("\n" * n)
    for _ in range(30):
        k = rng.randint(2, 30)
        out.append("".join(rng.choice([" ", "\t", "\n", "\r", "\n\n", "  "]) for _ in range(k)))
    for _ in range(25):
        words = [rng.choice(["hello", "world", "a", "x1", "the", "fn", "中文", "é"]) for _ in range(rng.randint(2, 6))]
        seps = ["".join(rng.choice([" ", "\t", "\n"]) for _ in range(rng.randint(1, 20))) for _ in words]
        out.append("".join(w + s for w, s in zip(words, seps)))
    out += [
        " leading",
        "  two leading",
        "trailing ",
        "trailing two  ",
        "   both   ",
        "\tleading tab",
        "trailing tab\t",
        "\nleading newline",
        "trailing newline\n",
        " \t \n mixed \n \t ",
        "\v\f",
        "a\vb\fc",
        "\r",
        "\r\n\r\n",
        "word \n word",
    ]
    return out


# Alphabets for random strings: (name, list of code point ranges).
ALPHABETS = [
    ("ascii", [(0x20, 0x7E)]),
    ("latin1", [(0xA0, 0xFF)]),
    ("latin-ext", [(0x100, 0x24F)]),
    ("greek", [(0x391, 0x3C9)]),
    ("cyrillic", [(0x410, 0x44F)]),
    ("hebrew", [(0x5D0, 0x5EA)]),
    ("arabic", [(0x621, 0x64A)]),
    ("devanagari", [(0x905, 0x939), (0x93E, 0x94D)]),
    ("thai", [(0xE01, 0xE3A)]),
    ("hangul", [(0xAC00, 0xD7A3)]),
    ("cjk", [(0x4E00, 0x9FFF)]),
    ("kana", [(0x3041, 0x3096), (0x30A1, 0x30FA)]),
    ("emoji", [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF)]),
    ("cjk-ext-b", [(0x20000, 0x2A6DF)]),
    ("symbols", [(0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x257F)]),
    ("controls", [(0x0, 0x1F), (0x7F, 0x9F)]),
    ("combining", [(0x300, 0x36F)]),
    ("any-bmp", [(0x0, 0xD7FF), (0xE000, 0xFFFF)]),
    ("any", [(0x0, 0xD7FF), (0xE000, 0x10FFFF)]),
]


def random_char(rng, ranges):
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def random_strings(rng):
    out = []
    for name, ranges in ALPHABETS:
        for _ in range(4):
            n = rng.randint(1, 40)
            out.append("".join(random_char(rng, ranges) for _ in range(n)))
    # Mixtures of alphabets with spaces.
    for _ in range(40):
        parts = []
        for _ in range(rng.randint(1, 8)):
            _, ranges = rng.choice(ALPHABETS)
            parts.append("".join(random_char(rng, ranges) for _ in range(rng.randint(1, 10))))
        out.append(rng.choice([" ", "", "\n", "  "]).join(parts))
    return out


SPECIAL_PIECES = [
    "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "</s>", "<s>",
    "<td>", "</td>", "<h1>", "[multimodal]", "<unused3>", "<start_of_image>", "\n", "\n\n", "  ",
    "\t\t", "<start_of", "_turn>", "<", ">", "user", "model", " hi", "text", "中", "😀",
]


def special_mixtures(rng):
    out = []
    for _ in range(40):
        out.append("".join(rng.choice(SPECIAL_PIECES) for _ in range(rng.randint(2, 12))))
    return out


def long_texts(rng):
    words = ("the of and to in is was for on that with as by at from his her it an were are which "
             "tokenizer merge piece score byte fallback space newline model turn").split()
    out = []
    # A ~10 kB English-like text with punctuation and newlines.
    parts = []
    while sum(len(p) for p in parts) < 10000:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 16)))
        parts.append(sentence.capitalize() + rng.choice([". ", ", ", "! ", "? ", ".\n", ".\n\n"]))
    out.append("".join(parts))
    # A ~4 kB mixed-script text.
    parts = []
    while sum(len(p) for p in parts) < 1500:
        _, ranges = rng.choice(ALPHABETS[:14])
        parts.append("".join(random_char(rng, ranges) for _ in range(rng.randint(1, 12))))
    out.append(" ".join(parts))
    # A chat transcript with many turns.
    turns = []
    for i in range(20):
        role = "user" if i % 2 == 0 else "model"
        turns.append(f"<start_of_turn>{role}\n" + " ".join(rng.choice(words) for _ in range(10)) + "<end_of_turn>\n")
    out.append("".join(turns))
    return out


def build_corpus():
    rng = random.Random(SEED)
    groups = [
        ("empty", [""]),
        ("prose", PROSE),
        ("code", CODE),
        ("whitespace", whitespace_strings(rng)),
        ("cjk", CJK),
        ("emoji", EMOJI),
        ("scripts", SCRIPTS),
        ("numbers", NUMBERS),
        ("web", WEB),
        ("markdown", MARKDOWN),
        ("special", SPECIAL),
        ("byte-fallback", BYTE_FALLBACK),
        ("long-words", LONG_WORDS),
        ("repeats", repeats()),
        ("random", random_strings(rng)),
        ("special-mix", special_mixtures(rng)),
        ("long-text", long_texts(rng)),
    ]
    seen = set()
    corpus = []
    for cat, strings in groups:
        for s in strings:
            if s in seen:
                continue
            seen.add(s)
            corpus.append((cat, s))
    return corpus, rng


# ---------------------------------------------------------------- llama.cpp calls


def detokenize(vocab, ids, unparse_special):
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 64 * len(ids) + 64
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, unparse_special)
        if n >= 0:
            return buf.raw[:n]
        size = -n + 1


def text_field(record, name, data):
    try:
        record[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        record[name + "_hex"] = data.hex()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else default_model()
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    if not os.path.exists(model):
        sys.exit(f"model not found: {model} (run `gemma pull`)")
    llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)

    corpus, rng = build_corpus()
    records = []
    for cat, text in corpus:
        data = text.encode("utf-8")
        ids_special = llm.tokenize(data, add_bos=True, special=True)
        ids_plain = llm.tokenize(data, add_bos=False, special=False)
        rec = {"category": cat, "text": text, "ids_special": ids_special, "ids_plain": ids_plain}
        text_field(rec, "detok_special", detokenize(vocab, ids_special, True))
        text_field(rec, "detok_special_hidden", detokenize(vocab, ids_special, False))
        text_field(rec, "detok_plain", detokenize(vocab, ids_plain, False))
        records.append(rec)

    # Decode-only records: random id sequences, heavy on byte tokens (which can form invalid
    # UTF-8), control, user-defined and unused tokens.
    byte_ids = [i for i in range(n_vocab) if llama_cpp.llama_vocab_get_attr(vocab, i) & 32]
    special_ids = list(range(0, 260)) + [255968, 255999, 256000, 256001, n_vocab - 1]
    decode_records = []
    for k in range(40):
        ids = []
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.5:
                ids.append(rng.choice(byte_ids))
            elif r < 0.7:
                ids.append(rng.choice(special_ids))
            else:
                ids.append(rng.randrange(n_vocab))
        if k < 4:  # a valid multi-byte character spelled with byte tokens, then cut short
            ch = "😀中é"[k % 3].encode()
            ids = [byte_ids[b] for b in ch][: len(ch) - (k // 3)]
        decode_records.append({
            "decode_ids": ids,
            "bytes_render_hex": detokenize(vocab, ids, True).hex(),
            "bytes_hidden_hex": detokenize(vocab, ids, False).hex(),
        })

    header = {
        "header": True,
        "script": "scripts/make_tokenizer_golden.py",
        "llama_cpp_python": llama_cpp.__version__,
        "model_file": os.path.basename(model),
        "model_sha256": sha256_file(model),
        "date": datetime.date.today().isoformat(),
        "seed": SEED,
        "n_vocab": n_vocab,
        "strings": len(records),
        "decode_sequences": len(decode_records),
        "tokenize": "Llama(vocab_only=True).tokenize(text.encode(), add_bos, special)",
        "detokenize": "llama_detokenize(vocab, ids, remove_special=False, unparse_special)",
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        for obj in [header] + records + decode_records:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} strings and {len(decode_records)} decode sequences to {out_path}")


if __name__ == "__main__":
    main()
