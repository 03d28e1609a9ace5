#!/usr/bin/env python3
"""Make tests/data/llama_reference.json: llama.cpp's greedy generation and logits
on the default model (Gemma 3 270M, GGUF Q4_K_M), used as the reference for the
Rust engine's end-to-end tests.

For each prompt in PROMPTS (plus two generated prompts longer than 1024 tokens,
which cross Gemma 3's 512-token sliding window) the script:

* tokenizes with llama.cpp (`tokenize(text, add_bos=True, special=True)`, so
  `<start_of_turn>` etc. written as text become special tokens);
* evaluates the prompt and greedily decodes N_GEN = 32 tokens (argmax of the raw
  logits, no sampling, no penalties), feeding every chosen token back and never
  stopping at EOS / <end_of_turn>;
* records the chosen ids, the top-1 minus top-2 logit margin at every step, and
  the top-10 (id, logit) at the last prompt position.

The main reference is computed with n_batch = n_ubatch = 1 (--n-batch): llama.cpp then
evaluates the prompt one position at a time, exactly as it decodes, so every matrix product
goes through ggml's vec_dot kernels (8-bit quantized activations, f16 KV cache). gemma-rs's
default "mixed" numerics reproduce those kernels bit for bit and do not depend on batch size.
llama.cpp's own logits DO depend on its physical batch size (batches of 8+ positions go through
other kernels with another float summation order, and this small quantized model amplifies such
differences to tenths of a logit), so each case also records, under "batched", the same run
with n_batch = n_ubatch = 512 (--batched-n-batch), for comparison.

It also measures how much llama.cpp itself moves when the batch size, thread count
or logits_all setting change (on the long prompts), and writes the largest
last-position logit difference as `reference_noise` in the header, and compares
every case with an independent float64 NumPy forward pass on the same dequantized
weights (scripts/gemma3_numpy_ref.py), recorded as `f64_check` per case.

Usage (fresh machine):

    python3 -m venv ~/.cache/gemma-rs/venv-ref
    # Builds llama.cpp from the sdist (CPU, default flags: GGML_NATIVE, OpenMP);
    # this takes tens of minutes on 2 cores. Extra CMake flags can be passed with
    # CMAKE_ARGS="..." (none were used for the committed fixture).
    ~/.cache/gemma-rs/venv-ref/bin/pip install -v llama-cpp-python==0.3.36 gguf numpy
    ~/.cache/gemma-rs/venv-ref/bin/python scripts/make_llama_reference.py \\
        [--model "$(gemma pull --print-path)"] [--out tests/data/llama_reference.json]

Run from the repository root. The model defaults to
$GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf ($GEMMA_HOME defaults to
~/.cache/gemma-rs), the same file `gemma pull --print-path` prints.
`--skip-noise` skips the batch/thread comparison (reference_noise is then null);
`--skip-f64` skips the float64 cross-check (needs ~3 GB of RAM). A full run takes
about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time

import numpy as np
import llama_cpp

N_GEN = 32
TOP_K = 10
N_CTX = 4096
N_BATCH = 1
BATCHED_N_BATCH = 512
N_THREADS = 2
SEED = 0
MIN_LONG_TOKENS = 1024

PROMPTS: list[tuple[str, str]] = [
    ("bos_only", ""),
    (
        "english_prose",
        "The old lighthouse keeper climbed the spiral stairs every evening, counting "
        "each step as his father had taught him. On the night of the great storm, he "
        "noticed that",
    ),
    ("capital_of_france", "The capital of France is"),
    (
        "python_function",
        "def is_prime(n: int) -> bool:\n"
        '    """Return True if n is a prime number."""\n'
        "    if n < 2:\n"
        "        return False\n",
    ),
    (
        "rust_code",
        "fn main() {\n"
        "    let numbers = vec![3, 1, 4, 1, 5, 9, 2, 6];\n"
        "    let total: i32 = numbers.iter().sum();\n"
        '    println!("total = {}", ',
    ),
    (
        "json_object",
        '{"name": "Ada Lovelace", "born": 1815, "fields": ["mathematics", "computing"], '
        '"notes": {"language": "en", "verified": true}, "children": [',
    ),
    (
        "unicode_mixed",
        "日本の首都は東京です。中国的首都是北京。Café, naïve, Ærøskøbing, Straße, "
        "smörgåsbord, Ελληνικά, Русский текст. 🎉🚀👍🏽 Emoji and accents: é è ê ë — «",
    ),
    (
        "whitespace_heavy",
        "Name\tAge\t\tCity\n"
        "Alice\t30\t\tParis\n"
        "    indented by four spaces\n"
        "\n\n\n"
        "        eight spaces    then   runs     of      spaces\n"
        "\t\ttwo tabs\n"
        "   \n"
        "  \t mixed \t whitespace  \n"
        "        ",
    ),
    (
        "chat_template",
        "<start_of_turn>user\n"
        "Write a short poem about the sea.<end_of_turn>\n"
        "<start_of_turn>model\n",
    ),
]

# Word lists for the long generated prompts. The combination below uses different
# strides so sentences vary without an exact repetition loop.
_NAMES = [
    "Tomas", "Ilse", "Marek", "Odile", "Bram", "Sunniva", "Hector", "Lucia",
    "Piet", "Agnes", "Rafael", "Greta", "Oskar", "Mirela", "Jonas", "Elena",
    "Anton",
]
_TRADES = [
    "baker", "weaver", "smith", "ferryman", "miller", "potter", "carpenter",
    "fisher", "shepherd", "glassblower", "bookbinder", "cooper", "mason",
]
_VERBS = [
    "carried", "sold", "traded", "repaired", "counted", "painted", "wrapped",
    "delivered", "hid", "measured", "polished",
]
_THINGS = [
    "loaves of bread", "baskets of apples", "iron nails", "wool blankets",
    "clay jars", "oak barrels", "copper kettles", "glass lanterns",
    "leather books", "sacks of flour", "wooden spoons", "bundles of reeds",
    "silver buttons", "candles",
]
_PLACES = [
    "mill by the river", "market square", "old chapel", "harbour", "inn at the crossroads",
    "school on the hill", "bridge of seven arches", "orchard", "lighthouse",
    "granary", "stone well", "town hall",
]
_TIMES = [
    "before sunrise", "at noon", "in the evening", "during the first frost",
    "on market day", "after the rain", "at dusk", "in the middle of the night",
    "on the longest day of the year", "while the bells were ringing",
]
_ENDINGS = [
    "and nobody asked why",
    "because the winter had been long",
    "although the road was flooded",
    "and then went home to rest",
    "while singing an old song",
    "as the mayor had requested",
    "but forgot to ask for payment",
    "and wrote it all down in a ledger",
    "so that the children would have something warm",
]
_NUMBER_WORDS = [
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fifteen", "twenty",
]


def _pick(items: list[str], i: int, stride: int, offset: int) -> str:
    return items[(i * stride + offset) % len(items)]


def long_chronicle(n_entries: int) -> str:
    """A numbered chronicle of made-up village events; ends mid-entry."""
    lines = ["The Chronicle of the Village of Emberford, as kept by the town clerk.", ""]
    for i in range(1, n_entries + 1):
        lines.append(
            f"{i}. {_pick(_NAMES, i, 5, 0)} the {_pick(_TRADES, i, 3, 1)} "
            f"{_pick(_VERBS, i, 7, 2)} {_pick(_NUMBER_WORDS, i, 3, 4)} "
            f"{_pick(_THINGS, i, 5, 3)} to the {_pick(_PLACES, i, 7, 5)} "
            f"{_pick(_TIMES, i, 3, 6)}, {_pick(_ENDINGS, i, 4, 7)}."
        )
    lines.append(f"{n_entries + 1}. {_pick(_NAMES, n_entries + 1, 5, 0)} the")
    return "\n".join(lines)


def long_python_module(n_funcs: int) -> str:
    """A Python module of small generated helper functions; ends inside a function."""
    out = ['"""Utility helpers for the inventory of the Emberford granary."""', "", "import math", ""]
    things = [t.replace(" ", "_") for t in _THINGS]
    for i in range(n_funcs):
        thing = _pick(things, i, 5, 0).replace("_of_", "_")
        k = 2 + (i * 7) % 11
        kind = i % 4
        if kind == 0:
            out += [
                f"def scale_{thing}_{i}(values, factor={k}):",
                f'    """Multiply every {thing} count by {k}."""',
                "    return [v * factor for v in values]",
                "",
            ]
        elif kind == 1:
            out += [
                f"def total_{thing}_{i}(stock):",
                f'    """Sum the {thing} entries in a stock dictionary."""',
                "    total = 0",
                "    for key, value in stock.items():",
                f'        if key.startswith("{thing[:4]}"):',
                "            total += value",
                "    return total",
                "",
            ]
        elif kind == 2:
            out += [
                f"def clamp_{thing}_{i}(x, low=0, high={k * 10}):",
                f'    """Clamp a {thing} amount to the range [low, high]."""',
                "    return max(low, min(high, x))",
                "",
            ]
        else:
            out += [
                f"def boxes_for_{thing}_{i}(count, per_box={k}):",
                f'    """How many boxes of {k} are needed for count {thing}."""',
                "    return math.ceil(count / per_box)",
                "",
            ]
    out += [
        "def average_stock(stock):",
        '    """Return the average value in a stock dictionary."""',
        "    if not stock:",
        "        return 0.0",
        "",
    ]
    return "\n".join(out)


LONG_PROMPTS: list[tuple[str, str]] = [
    ("long_chronicle", long_chronicle(40)),
    ("long_python_module", long_python_module(27)),
]


def default_model_path() -> str:
    home = os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")
    return os.path.join(home, "models", "gemma-3-270m-q4_k_m.gguf")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32(x: float) -> float:
    """Shortest decimal that round-trips the float32 value."""
    return float(str(np.float32(x)))


def disable_extra_buffer_types() -> None:
    """Load weights without llama.cpp's "extra" CPU buffer types (AMX / repacked).

    With them, ggml swaps in AMX tile kernels (which crash in VMs that do not grant
    AMX state, as on the machine that made the fixture) or repacked Q4_K/Q4_0
    layouts whose numerics differ per CPU. Plain ggml CPU kernels make the
    reference the same on every x86 machine. The high-level Llama class has no
    argument for this, so wrap the function it takes its model parameters from.
    """
    original = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_cpp.llama_model_default_params = params


def load(model_path: str, n_batch: int, n_threads: int, logits_all: bool = True) -> llama_cpp.Llama:
    # n_ubatch = n_batch so that n_batch really changes the physical batch llama.cpp
    # computes (the wrapper's default n_ubatch is 512).
    return llama_cpp.Llama(
        model_path=model_path,
        n_ctx=N_CTX,
        n_batch=n_batch,
        n_ubatch=n_batch,
        logits_all=logits_all,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        seed=SEED,
        verbose=False,
    )


def last_logits(llm: llama_cpp.Llama) -> np.ndarray:
    """Raw logits of the last evaluated position, straight from llama.cpp."""
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float32, copy=True)


def top_sorted(logits: np.ndarray, k: int) -> list[int]:
    """Ids of the k largest logits, high to low (ties: lower id first)."""
    idx = np.argpartition(-logits, k)[:k]
    return sorted((int(i) for i in idx), key=lambda i: (-float(logits[i]), i))


def greedy(llm: llama_cpp.Llama, prompt_tokens: list[int], n_gen: int):
    """Evaluate the prompt, then greedy-decode n_gen tokens (no EOS stop).

    Returns (generated ids, margins, top10 at last prompt position, that logit row).
    """
    llm.reset()
    llm.eval(prompt_tokens)
    generated: list[int] = []
    margins: list[float] = []
    top10: list[dict] = []
    first_row = None
    for step in range(n_gen):
        logits = last_logits(llm)
        top = top_sorted(logits, TOP_K)
        if step == 0:
            first_row = logits
            top10 = [{"id": i, "logit": f32(logits[i])} for i in top]
        tok = top[0]
        assert tok == int(np.argmax(logits)) or logits[tok] == logits.max()
        generated.append(tok)
        margins.append(f32(logits[top[0]] - logits[top[1]]))
        if step + 1 < n_gen:
            llm.eval([tok])
    return generated, margins, top10, first_row


def measure_noise(model_path: str, long_cases: list[dict], main_rows: dict) -> tuple[float, list[dict]]:
    """Re-run the long prompts under other batch/thread/logits_all settings."""
    configs = [
        ("n_batch=512 n_threads=2 fresh load", 512, 2, True),
        ("n_batch=512 n_threads=1", 512, 1, True),
        ("n_batch=2048 n_threads=2", 2048, 2, True),
        ("n_batch=2048 n_threads=1", 2048, 1, True),
        ("n_batch=512 n_threads=2 logits_all=False", 512, 2, False),
        ("n_batch=1 n_threads=2 (prompt fed token by token)", 1, 2, True),
    ]
    details = []
    worst = 0.0
    for label, n_batch, n_threads, logits_all in configs:
        t0 = time.time()
        llm = load(model_path, n_batch, n_threads, logits_all)
        for case in long_cases:
            gen, _, _, row = greedy(llm, case["prompt_tokens"], N_GEN)
            diff = float(np.max(np.abs(row - main_rows[case["name"]])))
            top_ids = [t["id"] for t in case["top10"]]
            top_diff = float(np.max(np.abs(row[top_ids] - main_rows[case["name"]][top_ids])))
            same = gen == case["generated"]
            worst = max(worst, diff)
            details.append(
                {
                    "config": label,
                    "case": case["name"],
                    "max_abs_logit_diff": f32(diff),
                    "top10_max_abs_diff": f32(top_diff),
                    "same_generated": same,
                }
            )
            print(
                f"  noise [{label}] {case['name']}: max |dlogit| = {diff:.3g} "
                f"(top10 ids {top_diff:.3g}), same 32 ids: {same}"
            )
        del llm
        print(f"  ({time.time() - t0:.1f}s)")
    return worst, details


def f64_check(model_path: str, cases: list[dict], main_rows: dict) -> float:
    """Compare llama.cpp with the float64 NumPy forward (teacher-forced on llama.cpp's ids).

    Adds case["f64_check"] and returns the largest last-position |logit diff|.
    """
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gemma3_numpy_ref import NumpyGemma3

    t0 = time.time()
    ref = NumpyGemma3(model_path)
    print(f"  float64 NumPy model loaded ({time.time() - t0:.1f}s)")
    worst = 0.0
    for case in cases:
        prompt, gen = case["prompt_tokens"], case["generated"]
        rows = ref.logits(prompt + gen[:-1], len(prompt) - 1)
        llama_row = main_rows[case["name"]].astype(np.float64)
        top_ids = [t["id"] for t in case["top10"]]
        last_diff = float(np.max(np.abs(llama_row - rows[0])))
        top_diff = float(np.max(np.abs(llama_row[top_ids] - rows[0][top_ids])))
        disagree = [s for s in range(len(gen)) if int(np.argmax(rows[s])) != gen[s]]
        f64_margins = [float(np.diff(np.sort(r)[-2:])[0]) for r in rows]
        worst = max(worst, last_diff)
        case["f64_check"] = {
            "last_pos_max_abs_diff": f32(last_diff),
            "top10_max_abs_diff": f32(top_diff),
            "argmax_disagree_steps": disagree,
        }
        note = ", ".join(f"step {s} (llama margin {case['margins'][s]:.3g}, f64 margin {f64_margins[s]:.3g})" for s in disagree)
        print(
            f"  f64 [{case['name']}] last pos max |d| {last_diff:.3g}, top10 max |d| {top_diff:.3g}, "
            f"argmax differs at: {note or 'none'}"
        )
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model_path(), help="GGUF model path")
    ap.add_argument("--out", default="tests/data/llama_reference.json", help="output JSON path")
    ap.add_argument("--skip-noise", action="store_true", help="skip the batch/thread noise measurement")
    ap.add_argument("--skip-f64", action="store_true", help="skip the float64 NumPy cross-check")
    ap.add_argument("--n-batch", type=int, default=N_BATCH, help="n_batch = n_ubatch of the main reference")
    ap.add_argument("--batched-n-batch", type=int, default=BATCHED_N_BATCH, help="n_batch of the 'batched' comparison run (0: skip)")
    args = ap.parse_args()

    if not os.path.isfile(args.model):
        print(f"model not found: {args.model} (run `gemma pull`)", file=sys.stderr)
        return 1

    print(f"llama-cpp-python {llama_cpp.__version__}; model {args.model}")
    disable_extra_buffer_types()
    model_sha = sha256_file(args.model)
    llm = load(args.model, args.n_batch, N_THREADS)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eos_ids = sorted(
        {int(t) for t in (llama_cpp.llama_vocab_eos(vocab), llama_cpp.llama_vocab_eot(vocab)) if int(t) >= 0}
    )

    cases = []
    main_rows = {}
    for name, text in PROMPTS + LONG_PROMPTS:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if name.startswith("long_"):
            print(f"{name}: {len(tokens)} prompt tokens")
            assert len(tokens) > MIN_LONG_TOKENS, f"{name} has only {len(tokens)} tokens"
        t0 = time.time()
        gen, margins, top10, row = greedy(llm, tokens, N_GEN)
        main_rows[name] = row
        text_out = llm.detokenize(gen, special=True).decode("utf-8", errors="replace")
        cases.append(
            {
                "name": name,
                "prompt": text,
                "n_prompt_tokens": len(tokens),
                "prompt_tokens": tokens,
                "generated": gen,
                "margins": margins,
                "top10": top10,
                "generated_text": text_out,
            }
        )
        m = int(np.argmin(margins))
        eos_at = [i for i, t in enumerate(gen) if t in eos_ids]
        print(
            f"[{name}] {len(tokens)} prompt tokens, {time.time() - t0:.1f}s, "
            f"min margin {margins[m]:.4g} at step {m}"
            + (f", EOS/EOT at steps {eos_at}" if eos_at else "")
        )
        print(f"    -> {text_out!r}")
    del llm

    if args.batched_n_batch:
        print(f"the same cases with n_batch = n_ubatch = {args.batched_n_batch}:")
        llm = load(args.model, args.batched_n_batch, N_THREADS)
        for case in cases:
            gen, margins, top10, _ = greedy(llm, case["prompt_tokens"], N_GEN)
            same = next((i for i, (a, b) in enumerate(zip(gen, case["generated"])) if a != b), None)
            case["batched"] = {"n_batch": args.batched_n_batch, "generated": gen, "margins": margins, "top10": top10}
            print(f"  [{case['name']}] first step differing from n_batch={args.n_batch}: {same}")
        del llm

    noise = None
    noise_details = []
    if not args.skip_noise:
        print("measuring llama.cpp batch/thread noise on the long prompts:")
        long_cases = [c for c in cases if c["name"].startswith("long_")]
        worst, noise_details = measure_noise(args.model, long_cases, main_rows)
        noise = f32(worst)
        print(f"reference_noise (max |dlogit| at last prompt position) = {noise}")

    f64_worst = None
    if not args.skip_f64:
        print("cross-checking llama.cpp against a float64 NumPy forward pass:")
        f64_worst = f32(f64_check(args.model, cases, main_rows))
        print(f"llama.cpp vs float64, max |dlogit| at last prompt position = {f64_worst}")

    header = {
        "generated_by": "scripts/make_llama_reference.py",
        "llama_cpp_python": llama_cpp.__version__,
        "model_file": os.path.basename(args.model),
        "model_sha256": model_sha,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_ctx": N_CTX,
        "n_batch": args.n_batch,
        "n_ubatch": args.n_batch,
        "batched_n_batch": args.batched_n_batch,
        "n_threads": N_THREADS,
        "logits_all": True,
        "use_extra_bufts": False,
        "n_generate": N_GEN,
        "eos_ids": eos_ids,
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", errors="replace").strip(),
        "notes": (
            "CPU llama.cpp via llama-cpp-python. The main fields come from n_batch = n_ubatch = "
            f"{args.n_batch} (prompt evaluated position by position, as llama.cpp decodes: ggml "
            "vec_dot kernels throughout); cases[].batched holds the same run with n_batch = "
            f"n_ubatch = {args.batched_n_batch}, whose batched kernels sum in another order. "
            "Prompts tokenized with "
            "tokenize(text.encode('utf-8'), add_bos=True, special=True). Greedy: at each of "
            "n_generate steps take argmax of the raw logits (ties -> lowest id; no sampling, "
            "no repetition penalty) and feed it back; generation does NOT stop at EOS/"
            "<end_of_turn> (ids in eos_ids are recorded like any other). margins[i] = "
            "logit[top1] - logit[top2] of the logits that chose generated[i]; top10 = the 10 "
            "highest (id, logit) at the last prompt position (the logits that chose "
            "generated[0]), high to low. Logits are float32 written as shortest round-trip "
            "decimals. Weights loaded with use_extra_bufts=False (no AMX/repacked kernels; plain "
            "ggml CPU kernels); llama.cpp's default full-size SWA KV cache (the 512-token window "
            "is applied by the mask). reference_noise = max |logit difference| at the last prompt position of "
            "the long prompts when llama.cpp is re-run with n_batch(=n_ubatch) 1/512/2048, "
            "n_threads 1/2, logits_all True/False (see reference_noise_detail). cases[].f64_check "
            "compares llama.cpp with scripts/gemma3_numpy_ref.py, a float64 NumPy forward on the "
            "same dequantized weights, teacher-forced on llama.cpp's ids: max |logit diff| at the "
            "last prompt position (all vocab and llama.cpp's top10 ids) and the decode steps whose "
            "float64 argmax differs from generated[step]; llama_vs_f64_max_abs_diff is the "
            "largest last-position difference over all cases."
        ),
        "reference_noise": noise,
        "reference_noise_detail": noise_details,
        "llama_vs_f64_max_abs_diff": f64_worst,
    }
    doc = {"header": header, "cases": cases}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
