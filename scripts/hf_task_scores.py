#!/usr/bin/env python3
"""Hugging Face transformers' benchmark scores beside gemma-rs's, on the very same prompts.

Run by hand (never by CI), with the python of the venv $GEMMA_HOME/venv-hf ($GEMMA_HOME
defaults to ~/.cache/gemma-rs), which holds transformers 5.24.0 and torch 2.15.0 (CPU):

    $GEMMA_HOME/venv-hf/bin/python scripts/hf_task_scores.py
        [--tasks arc_easy,piqa,boolq] [--limit 300] [--threads 2] [--json report.json]
        [--gemma target/release/gemma] [--model M.gguf] [--tokenize-check 20]
        [--workdir DIR] [--fresh] [--precision mixed|f32]

Started with another python (one without torch or transformers), it re-executes itself with
$GEMMA_HOME/venv-hf/bin/python. transformers reads a GGUF file only with the packages `gguf`
and `accelerate`: when the venv lacks them the script pip-installs GGUF_VERSION and
ACCELERATE_VERSION below (PyPI). The venv itself is not made here; make it with
`python3 -m venv $GEMMA_HOME/venv-hf && $GEMMA_HOME/venv-hf/bin/pip install torch==2.15.0
transformers==5.24.0 gguf==0.19.0 accelerate==1.15.0`.

What it does, per task:

1. `gemma eval --task T --limit N --dump-requests FILE` (kept in --workdir, default
   $GEMMA_HOME/hf-task-scores/): one JSON line per question with the exact (context,
   continuation) pairs gemma-rs scores, the choices, the gold answer and the scoring kind.
2. Loads the same GGUF file with transformers (`AutoModelForCausalLM.from_pretrained(dir,
   gguf_file=name, dtype=torch.float32)`, which dequantizes every tensor to f32, and its
   tokenizer likewise) and scores every request as lm-evaluation-harness does: `_encode_pair`
   moves the context's trailing spaces to the continuation, context_enc = tokenize(context)
   with BOS, whole = tokenize(context + continuation) with BOS, continuation_enc =
   whole[len(context_enc):]; the model reads (context_enc + continuation_enc)[:-1] and the
   request's log-likelihood is the sum of the log-softmax (float64, from float32 logits) of the
   continuation tokens; greedy = every continuation token is the argmax. The requests of a
   question go through the model as one right-padded batch, in eval mode without gradients;
   a request whose input is a prefix of another's (boolq's one-token " no" / " yes" after the
   same context) is read from that one's forward pass. The LM head is applied only at the
   positions that are scored. acc = argmax(ll) == gold (Choice, Partial), acc_norm =
   argmax(ll / len(choice in characters)) == gold (Choice only), Greedy: acc = greedy.
   Generate questions are not scored (counted and reported). Per-question results are kept in
   --workdir/hf.<task>.<shots>shot.jsonl and reused by a later run when the requests are the
   same (--fresh: score them all again).
3. Reads gemma-rs's own per-question results for the same questions from
   $GEMMA_HOME/eval-runs/<model file>.<task>.<shots>shot.jsonl (what `gemma eval` writes); when
   that file lacks some of the first N questions it runs `gemma eval --task T --limit N -t
   THREADS` first (resumable: it only adds the missing ones). Do not let another `gemma eval` of
   the same task write that file meanwhile.
4. Prints a markdown table: n, transformers' acc / acc_norm, gemma-rs's acc / acc_norm, the
   differences in points, the agreement of the per-question predictions, the largest and the
   median |ll_hf - ll_gemma| over the requests, with the mean signed difference and the mean
   per continuation token (to see whether a difference is systematic); then a verdict line per
   task: within 1 point (acc and acc_norm) or not. `--json FILE` also writes it all as JSON.

Tokenization: for the first --tokenize-check questions (default 20) of each task it compares
transformers' token ids with `gemma tokenize --json` (text on stdin): the context with BOS, the
context + continuation with BOS, and the continuation alone without BOS (`--no-bos`); any
mismatch is printed and counted.

gemma-rs's eval uses its default numerics for GGUF files (`--precision mixed`: 8-bit
activations and f16 attention operands, as llama.cpp); transformers runs in f32, so small
log-likelihood differences are expected, the predictions should agree nearly everywhere.
`--precision f32` compares with `gemma eval --precision f32` instead (run, or resumed, under
a separate $GEMMA_HOME, WORKDIR/gemma-home-f32, whose datasets are links to the usual ones):
that is the same arithmetic as transformers', and the log-likelihoods should agree to about
1e-4 nats. The transformers side is reused from WORKDIR, so a second run with another
--precision costs only gemma eval's time.
"""
import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import time

GGUF_VERSION = "0.19.0"
ACCELERATE_VERSION = "1.15.0"
REEXEC_ENV = "GEMMA_HF_TASK_SCORES_VENV"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEMMA_HOME = os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")
VENV = os.path.join(GEMMA_HOME, "venv-hf")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_env():
    """Imports torch and transformers (re-executing in $GEMMA_HOME/venv-hf if needed), then
    makes sure gguf and accelerate are there (pip-installed, pinned, into the running venv)."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        py = os.path.join(VENV, "bin", "python")
        if os.environ.get(REEXEC_ENV) or not os.path.exists(py):
            sys.exit(f"torch and transformers are missing; make {VENV} (see the docstring)")
        os.environ[REEXEC_ENV] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    missing = []
    for mod, pin in (("gguf", f"gguf=={GGUF_VERSION}"), ("accelerate", f"accelerate=={ACCELERATE_VERSION}")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pin)
    if missing:
        if sys.prefix == sys.base_prefix:
            sys.exit(f"missing {' '.join(missing)}; run this script with {VENV}/bin/python")
        log("installing " + " ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q"] + missing, check=True)


# ---------------------------------------------------------------- gemma-rs side

def dump_requests(gemma, model, task, limit, shots, path):
    cmd = [gemma, "eval", "-m", model, "--task", task, "--limit", str(limit), "--dump-requests", path]
    if shots is not None:
        cmd += ["--shots", str(shots)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        qs = [json.loads(line) for line in f if line.strip()]
    qs = [q for q in qs if q["task"] == task]
    qs.sort(key=lambda q: q["index"])
    return qs


def eval_runs_path(home, model, task, shots):
    return os.path.join(home, "eval-runs", f"{os.path.basename(model)}.{task}.{shots}shot.jsonl")


def gemma_home_for(precision, workdir):
    """$GEMMA_HOME for gemma eval: the usual one, or (with --precision) a separate one beside
    the reports whose datasets are the usual ones, so that its eval-runs files (which do not
    record the precision) never mix with the default runs."""
    if precision is None:
        return GEMMA_HOME
    home = os.path.join(workdir, f"gemma-home-{precision}")
    os.makedirs(home, exist_ok=True)
    for name in ("datasets", "tokenizers", "models"):
        src, dst = os.path.join(GEMMA_HOME, name), os.path.join(home, name)
        if os.path.isdir(src) and not os.path.lexists(dst):
            os.symlink(src, dst)
    return home


def read_gemma_results(path, task, shots):
    """{index: record} from gemma eval's resume file (a torn last line is skipped)."""
    out = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for k, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if k == 0:
            if rec.get("task") != task or rec.get("shots") != shots:
                sys.exit(f"{path}: key {rec} is not {task} {shots}-shot")
            continue
        if "index" in rec:
            out[rec["index"]] = rec
    return out


def gemma_results(gemma, model, task, shots, limit, threads, precision, home):
    path = eval_runs_path(home, model, task, shots)
    recs = read_gemma_results(path, task, shots)
    if any(i not in recs for i in range(limit)):
        cmd = [gemma, "eval", "-m", model, "--task", task, "--shots", str(shots),
               "--limit", str(limit), "-t", str(threads)]
        if precision is not None:
            cmd += ["--precision", precision]
        log(f"{path} lacks some of the first {limit} questions: running GEMMA_HOME={home} " + " ".join(cmd))
        t0 = time.time()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, GEMMA_HOME=home))
        log(f"gemma eval took {time.time() - t0:.0f} s")
        recs = read_gemma_results(path, task, shots)
        if any(i not in recs for i in range(limit)):
            sys.exit(f"{path} still lacks some of the first {limit} questions")
    return recs, path


def gemma_tokenize(gemma, model, text, bos):
    cmd = [gemma, "tokenize", "-m", model, "--json"] + ([] if bos else ["--no-bos"])
    p = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True)
    return json.loads(p.stdout)


# ---------------------------------------------------------------- transformers side

def split_spaces(context, continuation):
    """lm-evaluation-harness's _encode_pair: trailing spaces of the context go to the continuation."""
    n = len(context) - len(context.rstrip())
    if n > 0:
        continuation = context[-n:] + continuation
        context = context[:-n]
    return context, continuation


class HF:
    def __init__(self, model_path, threads):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        torch.set_num_threads(threads)
        self.torch = torch
        d, name = os.path.dirname(os.path.abspath(model_path)), os.path.basename(model_path)
        t0 = time.time()
        self.tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
        self.model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
        self.model.eval()
        self.load_seconds = time.time() - t0
        self.bos = self.tok.bos_token_id
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)

    def encode(self, text, bos):
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return ([self.bos] if bos else []) + list(ids)

    def encode_pair(self, context, continuation):
        context, continuation = split_spaces(context, continuation)
        ctx = self.encode(context, True)
        whole = self.encode(context + continuation, True)
        return ctx, whole[len(ctx):]

    def score(self, requests):
        """[(loglik, greedy, n_tokens)] per (context, continuation), one batch per question."""
        torch = self.torch
        encs = [self.encode_pair(c, x) for c, x in requests]
        for (c, x), (ce, xe) in zip(requests, encs):
            if not xe:
                sys.exit(f"empty continuation after tokenization: {x!r} after {c[-40:]!r}")
        inputs = [(ce + xe)[:-1] for ce, xe in encs]
        # A request whose input is a prefix of another's reads its logits from that forward.
        reps, owner = [], {}
        for i in sorted(range(len(inputs)), key=lambda i: -len(inputs[i])):
            for b, r in enumerate(reps):
                if inputs[r][:len(inputs[i])] == inputs[i]:
                    owner[i] = b
                    break
            else:
                owner[i] = len(reps)
                reps.append(i)
        width = max(len(inputs[r]) for r in reps)
        ids = torch.zeros((len(reps), width), dtype=torch.long)
        mask = torch.zeros((len(reps), width), dtype=torch.long)
        for b, r in enumerate(reps):
            ids[b, :len(inputs[r])] = torch.tensor(inputs[r])
            mask[b, :len(inputs[r])] = 1
        out = []
        with torch.inference_mode():
            kw = {"attention_mask": mask} if len(reps) > 1 else {}
            hidden = self.model.model(input_ids=ids, **kw).last_hidden_state
            # One LM-head product for all the scored positions of the question.
            rows = torch.cat([hidden[owner[i], len(ce) - 1:len(ce) - 1 + len(xe)]
                              for i, (ce, xe) in enumerate(encs)])
            logits = self.model.lm_head(rows).float()
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            targets = torch.tensor([t for _, xe in encs for t in xe])
            lp = torch.log_softmax(logits.double(), dim=-1)[torch.arange(len(targets)), targets]
            hit = logits.argmax(dim=-1) == targets
            at = 0
            for ce, xe in encs:
                n = len(xe)
                out.append((lp[at:at + n].sum().item(), bool(hit[at:at + n].all()), n))
                at += n
        return out


def requests_sha(q):
    return hashlib.sha256(json.dumps(q["requests"], ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def hf_results(hf, qs, cache_path, fresh):
    """{index: {"logliks", "greedy", "ntok"}} for the questions, reusing the cache file."""
    cached = {}
    if not fresh and os.path.exists(cache_path):
        with open(cache_path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    cached[rec["index"]] = rec
                except (json.JSONDecodeError, KeyError):
                    pass
    out, t0, done = {}, time.time(), 0
    with open(cache_path, "w") as f:
        for q in qs:
            sha = requests_sha(q)
            rec = cached.get(q["index"])
            if rec is None or rec.get("sha") != sha:
                if q["scoring"] == "Generate":
                    rec = {"index": q["index"], "sha": sha, "skipped": "Generate"}
                else:
                    scored = hf.score([tuple(r) for r in q["requests"]])
                    rec = {"index": q["index"], "sha": sha, "logliks": [s[0] for s in scored],
                           "greedy": [s[1] for s in scored], "ntok": [s[2] for s in scored]}
                done += 1
                if done % 25 == 0:
                    log(f"  {done} questions scored ({time.time() - t0:.0f} s)")
            f.write(json.dumps(rec) + "\n")
            f.flush()
            out[q["index"]] = rec
    return out, time.time() - t0, done


# ---------------------------------------------------------------- comparison

def argmax(xs):
    best = 0
    for k, x in enumerate(xs):
        if x > xs[best]:
            best = k
    return best


def predictions(q, logliks, greedy=None):
    """(acc prediction, acc_norm prediction or None, acc 0/1, acc_norm 0/1 or None)."""
    if q["scoring"] == "Greedy":
        ok = float(all(greedy)) if greedy is not None else None
        return ok, None, ok, None
    pred = argmax(logliks)
    acc = float(pred == q["gold"])
    if q["scoring"] != "Choice":
        return pred, None, acc, None
    norm = argmax([ll / max(len(c), 1) for ll, c in zip(logliks, q["choices"])])
    return pred, norm, acc, float(norm == q["gold"])


def compare(qs, hf, ours):
    n = 0
    sums = {"hf_acc": 0.0, "hf_norm": 0.0, "g_acc": 0.0, "g_norm": 0.0, "agree": 0, "agree_norm": 0,
            "g_metric_mismatch": 0}
    has_norm = all(q["scoring"] == "Choice" for q in qs)
    diffs, ntoks, worst = [], [], None
    skipped = 0
    for q in qs:
        h, g = hf[q["index"]], ours[q["index"]]
        if "skipped" in h:
            skipped += 1
            continue
        n += 1
        hp, hn, ha, han = predictions(q, h["logliks"], h["greedy"])
        gl = g.get("logliks") or []
        gm = g.get("metrics", {})
        sums["hf_acc"] += ha
        sums["g_acc"] += gm.get("acc", 0.0)
        if q["scoring"] == "Greedy":
            sums["agree"] += int(ha == gm.get("acc"))
        else:
            if len(gl) != len(h["logliks"]):
                sys.exit(f"{q['task']} {q['index']}: gemma has {len(gl)} log-likelihoods, "
                         f"transformers {len(h['logliks'])}")
            gp, gn, ga, gan = predictions(q, gl)
            sums["agree"] += int(hp == gp)
            # gemma's stored metrics against the ones its own log-likelihoods give
            if ga != gm.get("acc") or (gan is not None and gan != gm.get("acc_norm")):
                sums["g_metric_mismatch"] += 1
            if has_norm:
                sums["hf_norm"] += han
                sums["g_norm"] += gm.get("acc_norm", 0.0)
                sums["agree_norm"] += int(hn == gn)
            for k, (a, b) in enumerate(zip(h["logliks"], gl)):
                diffs.append(a - b)
                ntoks.append(h["ntok"][k])
                if worst is None or abs(a - b) > abs(worst["diff"]):
                    worst = {"index": q["index"], "request": k, "hf": a, "gemma": b, "diff": a - b,
                             "tokens": h["ntok"][k]}
    if n == 0:
        return {"n": 0, "skipped_generate": skipped}
    r = {"n": n, "skipped_generate": skipped,
         "hf": {"acc": sums["hf_acc"] / n}, "gemma": {"acc": sums["g_acc"] / n},
         "agreement": {"acc": sums["agree"] / n},
         "gemma_metrics_not_from_its_logliks": sums["g_metric_mismatch"]}
    if has_norm:
        r["hf"]["acc_norm"] = sums["hf_norm"] / n
        r["gemma"]["acc_norm"] = sums["g_norm"] / n
        r["agreement"]["acc_norm"] = sums["agree_norm"] / n
    r["diff_points"] = {k: 100 * (r["hf"][k] - r["gemma"][k]) for k in r["hf"]}
    if diffs:
        absd = [abs(d) for d in diffs]
        mean_d = sum(diffs) / len(diffs)
        r["ll_diff"] = {
            "requests": len(diffs),
            "max_abs": max(absd),
            "median_abs": statistics.median(absd),
            "mean_signed": mean_d,
            "mean_per_token": sum(diffs) / sum(ntoks),
            "share_hf_higher": sum(d > 0 for d in diffs) / len(diffs),
            "corr_with_tokens": corr(diffs, ntoks),
            "worst": worst,
        }
    r["within_1_point"] = all(abs(v) <= 1.0 for v in r["diff_points"].values())
    return r


def corr(xs, ys):
    if len(xs) < 3:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def tokenize_check(hf, gemma, model, qs, k):
    """Mismatches between transformers' and gemma-rs's token ids on the first k questions."""
    seen, mismatches, compared = set(), [], 0
    for q in qs[:k]:
        for context, continuation in q["requests"]:
            context, continuation = split_spaces(context, continuation)
            for what, text, bos in (("context", context, True),
                                    ("context+continuation", context + continuation, True),
                                    ("continuation", continuation, False)):
                if (text, bos) in seen:
                    continue
                seen.add((text, bos))
                compared += 1
                mine, theirs = hf.encode(text, bos), gemma_tokenize(gemma, model, text, bos)
                if mine != theirs:
                    at = next((j for j, (a, b) in enumerate(zip(mine, theirs)) if a != b),
                              min(len(mine), len(theirs)))
                    mismatches.append({"index": q["index"], "what": what, "text": text[:200],
                                       "first_difference_at": at, "hf": mine[max(0, at - 2):at + 6],
                                       "gemma": theirs[max(0, at - 2):at + 6],
                                       "hf_len": len(mine), "gemma_len": len(theirs)})
    return {"questions": min(k, len(qs)), "texts_compared": compared, "mismatches": mismatches}


def pct(x):
    return f"{100 * x:.2f}" if x is not None else "–"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="arc_easy,piqa,boolq", help="comma-separated (default arc_easy,piqa,boolq)")
    ap.add_argument("--limit", type=int, default=300, help="the first N questions of each task (default 300)")
    ap.add_argument("--shots", type=int, help="few-shot examples (default: each task's, as gemma eval)")
    ap.add_argument("--threads", "-t", type=int, default=2, help="torch threads, and gemma eval's -t")
    ap.add_argument("--model", default=os.path.join(GEMMA_HOME, "models", "gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--gemma", default=os.path.join(ROOT, "target", "release", "gemma"),
                    help="the gemma binary (default target/release/gemma)")
    ap.add_argument("--precision", choices=["mixed", "f32"],
                    help="gemma-rs's numerics to compare with (gemma eval --precision). Default: read "
                         "the results of gemma eval's default runs in $GEMMA_HOME/eval-runs; when "
                         "given, gemma eval runs (or resumes) with it under a separate $GEMMA_HOME, "
                         "WORKDIR/gemma-home-<precision>")
    ap.add_argument("--tokenize-check", type=int, default=20, metavar="K",
                    help="compare token ids with `gemma tokenize` on the first K questions (0: skip)")
    ap.add_argument("--workdir", default=os.path.join(GEMMA_HOME, "hf-task-scores"))
    ap.add_argument("--fresh", action="store_true", help="score every question again with transformers")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    a = ap.parse_args()
    ensure_env()
    t_start = time.time()
    if not os.path.exists(a.model):
        sys.exit(f"{a.model} does not exist: run `gemma pull` first or pass --model")
    if not os.access(a.gemma, os.X_OK):
        sys.exit(f"{a.gemma} is not executable: build it (cargo build --release) or pass --gemma")
    os.makedirs(a.workdir, exist_ok=True)
    tasks = [t for t in a.tasks.split(",") if t]
    gemma_home = gemma_home_for(a.precision, a.workdir)

    import torch
    import transformers
    log(f"loading {a.model} with transformers {transformers.__version__} (torch {torch.__version__}, "
        f"{a.threads} threads)")
    hf = HF(a.model, a.threads)
    log(f"loaded in {hf.load_seconds:.0f} s")
    report = {"model": a.model, "limit": a.limit, "threads": a.threads,
              "gemma_precision": a.precision or "gemma eval's default (mixed for GGUF files)",
              "transformers": transformers.__version__, "torch": torch.__version__,
              "hf_load_seconds": round(hf.load_seconds, 1), "tasks": {}}

    for task in tasks:
        dump = os.path.join(a.workdir, f"requests.{task}.jsonl")
        qs = dump_requests(a.gemma, a.model, task, a.limit, a.shots, dump)
        if not qs:
            sys.exit(f"gemma eval wrote no {task} requests")
        shots = qs[0]["shots"]
        kinds = sorted({q["scoring"] for q in qs})
        log(f"{task}: {len(qs)} questions, {shots}-shot, scoring {'/'.join(kinds)}, "
            f"{sum(len(q['requests']) for q in qs)} requests")
        tok = None
        if a.tokenize_check > 0:
            t0 = time.time()
            tok = tokenize_check(hf, a.gemma, a.model, qs, a.tokenize_check)
            tok["seconds"] = round(time.time() - t0, 1)
            log(f"{task}: tokenization: {len(tok['mismatches'])} mismatches in {tok['texts_compared']} texts")
            for m in tok["mismatches"]:
                log(f"  question {m['index']} {m['what']}: at token {m['first_difference_at']} "
                    f"hf {m['hf']} gemma {m['gemma']}: {m['text'][:80]!r}")
        cache = os.path.join(a.workdir, f"hf.{task}.{shots}shot.jsonl")
        hres, seconds, scored = hf_results(hf, qs, cache, a.fresh)
        log(f"{task}: transformers scored {scored} questions in {seconds:.0f} s "
            f"({len(qs) - scored} reused from {cache})")
        ours, ours_path = gemma_results(a.gemma, a.model, task, shots, len(qs), a.threads,
                                        a.precision, gemma_home)
        entry = compare(qs, hres, ours)
        entry.update({"shots": shots, "scoring": kinds, "hf_seconds": round(seconds, 1),
                      "hf_questions_scored_now": scored, "gemma_results": ours_path})
        if tok is not None:
            entry["tokenization"] = tok
        report["tasks"][task] = entry
        if a.json:  # written after every task, so an interrupted run keeps what it has
            with open(a.json, "w") as f:
                json.dump(report, f, indent=2)
                f.write("\n")
    report["wall_seconds"] = round(time.time() - t_start, 1)

    lines = ["| task | n | HF acc | HF acc_norm | gemma acc | gemma acc_norm | Δ acc (pts) | Δ acc_norm (pts) "
             "| agree acc | agree acc_norm | max \\|Δll\\| | median \\|Δll\\| | mean Δll | mean Δll/token | HF s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for task, e in report["tasks"].items():
        if e["n"] == 0:
            lines.append(f"| {task} | 0 | – | – | – | – | – | – | – | – | – | – | – | – | – |")
            verdicts.append(f"{task}: nothing to compare ({e['skipped_generate']} Generate questions)")
            continue
        h, g, d, ag = e["hf"], e["gemma"], e["diff_points"], e["agreement"]
        ll = e.get("ll_diff", {})
        f4 = lambda x: "–" if x is None else f"{x:.4f}" if x >= 1e-3 or x == 0 else f"{x:.1e}"  # noqa: E731
        lines.append(
            f"| {task} | {e['n']} | {pct(h['acc'])} | {pct(h.get('acc_norm'))} | {pct(g['acc'])} | "
            f"{pct(g.get('acc_norm'))} | {d['acc']:+.2f} | "
            f"{(format(d['acc_norm'], '+.2f') if 'acc_norm' in d else '–')} | {pct(ag['acc'])}% | "
            f"{(pct(ag['acc_norm']) + '%') if 'acc_norm' in ag else '–'} | {f4(ll.get('max_abs'))} | "
            f"{f4(ll.get('median_abs'))} | {(format(ll['mean_signed'], '+.4f') if ll else '–')} | "
            f"{(format(ll['mean_per_token'], '+.5f') if ll else '–')} | {e['hf_seconds']:.0f} |")
        worst = max(abs(v) for v in d.values())
        verdicts.append(f"{task}: {'within' if e['within_1_point'] else 'NOT within'} 1 point "
                        f"(largest difference {worst:.2f} points over {e['n']} questions)")
    print("\n".join(lines))
    print()
    print("Δ = transformers − gemma-rs; Δll per request (nats), over all requests of the questions.")
    for task, e in report["tasks"].items():
        notes = []
        tok = e.get("tokenization")
        if tok is not None:
            notes.append(f"tokenization: {len(tok['mismatches'])} mismatches in {tok['texts_compared']} texts "
                         f"of the first {tok['questions']} questions")
        if e.get("gemma_metrics_not_from_its_logliks"):
            notes.append(f"{e['gemma_metrics_not_from_its_logliks']} questions whose stored gemma metrics "
                         "differ from the ones its stored log-likelihoods give")
        ll = e.get("ll_diff")
        if ll:
            w = ll["worst"]
            c = ll["corr_with_tokens"]
            notes.append(f"HF higher on {pct(ll['share_hf_higher'])}% of requests; corr(Δll, tokens) "
                         f"{'–' if c is None else format(c, '+.2f')}; largest at question {w['index']} "
                         f"request {w['request']} ({w['tokens']} tokens): hf {w['hf']:.4f} gemma {w['gemma']:.4f}")
        if e.get("skipped_generate"):
            notes.append(f"{e['skipped_generate']} Generate questions not scored")
        if notes:
            print(f"- {task}: " + "; ".join(notes))
    for v in verdicts:
        print("verdict: " + v)
    print(f"wall time {report['wall_seconds']:.0f} s (model load {hf.load_seconds:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
