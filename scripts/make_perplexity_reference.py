#!/usr/bin/env python3
"""The perplexity golden: llama.cpp's own `llama-perplexity` on the committed Shakespeare text.

Builds llama.cpp's tools from the llama-cpp-python==0.3.36 source distribution (vendored
llama.cpp under vendor/llama.cpp) with scripts/build_llama_tools.sh (cached under $GEMMA_HOME;
~15 minutes the first time), runs

    llama-perplexity -m MODEL -f crates/gemma-eval/tests/data/shakespeare/macbeth_act1.txt \
        -c 512 -t 2 --no-repack

(llama.cpp's defaults otherwise: batch size 2048, so four 512-token chunks per batch, and
flash attention `auto`, which is on for the CPU), parses its per-chunk running values
`[1]x,[2]y,...` and `Final estimate: PPL = X +/- Y`, and writes
crates/gemma-eval/tests/data/shakespeare/llama_perplexity.json with the command line, llama.cpp's
version and system line, the model's file name and sha256, the text's sha256, ctx, the chunk
count and the figures. crates/gemma-eval/tests/perplexity.rs compares ours with it (within 1%).

It also runs the first `--exact-chunks` chunks (default 2) position by position, without flash
attention (`-fa off -b 512 -ub 1 --chunks 2`): the numerics gemma-rs's `mixed` precision
reproduces bit for bit (llama.cpp's batched kernels and flash attention sum in other orders and
move the per-chunk values by tenths of a percent). Those values go under "position_by_position";
the test holds our first chunks to them much more tightly, which checks the protocol itself
(tokens, BOS replacement, scored positions, log-softmax).

`--no-repack`: on CPUs that report AMX where the kernel does not grant AMX state (some virtual
machines), llama.cpp's default weight repacking crashes; repacking changes speed, not the
protocol. `--no-amx` uses the copy built without AMX instead (build_llama_tools.sh --no-amx).

Usage: python3 scripts/make_perplexity_reference.py [--model M] [--file F] [--ctx 512]
                                                   [--threads 2] [--exact-chunks 2]
                                                   [--out PATH] [--no-amx]

The default model is $GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf ($GEMMA_HOME defaults to
~/.cache/gemma-rs), the file `gemma pull --print-path` prints. Standard library only.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "crates", "gemma-eval", "tests", "data", "shakespeare")


def default_model_path():
    home = os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")
    return os.path.join(home, "models", "gemma-3-270m-q4_k_m.gguf")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rel(path):
    """The path relative to the repository when inside it, else as given."""
    p = os.path.abspath(path)
    return os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else path


def run_perplexity(cmd):
    """Runs llama-perplexity; returns its figures, parsed from its output, and the log."""
    print("running " + " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - t0
    log = p.stdout + "\n" + p.stderr
    if p.returncode != 0:
        sys.exit(f"llama-perplexity failed ({p.returncode}):\n{log[-3000:]}")
    final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
    if not final:
        sys.exit(f"no 'Final estimate' in llama-perplexity's output:\n{log[-3000:]}")
    chunk_ppl = [float(v) for _, v in sorted(
        ((int(i), v) for i, v in re.findall(r"\[(\d+)\]([0-9.]+),", p.stdout)), key=lambda x: x[0])]
    over = re.search(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+), batch_size=(\d+), n_seq=(\d+)", log)
    if not over:
        sys.exit("no 'calculating perplexity over N chunks' line in llama-perplexity's output")
    n_chunks = int(over.group(1))
    if len(chunk_ppl) != n_chunks:
        sys.exit(f"{len(chunk_ppl)} per-chunk values for {n_chunks} chunks")
    return {
        "ctx": int(over.group(2)), "batch_size": int(over.group(3)), "n_seq": int(over.group(4)),
        "n_chunks": n_chunks, "ppl": float(final.group(1)), "ppl_uncertainty": float(final.group(2)),
        "chunk_ppl": chunk_ppl, "seconds": round(seconds, 1), "log": log,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--file", default=os.path.join(DATA, "macbeth_act1.txt"))
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--exact-chunks", type=int, default=2,
                    help="chunks also run position by position without flash attention")
    ap.add_argument("--out", default=os.path.join(DATA, "llama_perplexity.json"))
    ap.add_argument("--no-amx", action="store_true",
                    help="llama.cpp built without AMX, with its default weight repacking")
    a = ap.parse_args()
    model = a.model or default_model_path()
    if not os.path.exists(model):
        sys.exit(f"{model} does not exist: run `gemma pull` first or pass --model")

    print("building llama.cpp tools (cached)...", file=sys.stderr)
    build = ["bash", os.path.join(ROOT, "scripts", "build_llama_tools.sh")] + (["--no-amx"] if a.no_amx else [])
    bindir = subprocess.run(build, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    tool = os.path.join(bindir, "llama-perplexity")
    version = subprocess.run([tool, "--version"], capture_output=True, text=True)
    version = " / ".join(l.strip() for l in (version.stdout + version.stderr).splitlines() if l.strip())

    base = [tool, "-m", model, "-f", a.file, "-c", str(a.ctx), "-t", str(a.threads)]
    if not a.no_amx:
        base.append("--no-repack")
    shown = lambda cmd: " ".join(["llama-perplexity", "-m", os.path.basename(model), "-f", rel(a.file)] + cmd[5:])
    r = run_perplexity(base)
    exact_cmd = base + ["-fa", "off", "-b", str(a.ctx), "-ub", "1", "--chunks", str(a.exact_chunks)]
    exact = run_perplexity(exact_cmd)
    system = re.search(r"system_info: (.*)", r["log"])
    golden = {
        "origin": "llama.cpp's llama-perplexity, built from the llama.cpp that PyPI's "
                  "llama-cpp-python==0.3.36 source distribution vendors (vendor/llama.cpp) by "
                  "scripts/build_llama_tools.sh" + (" --no-amx" if a.no_amx else "")
                  + "; made by scripts/make_perplexity_reference.py",
        "command": shown(base),
        "llama_cpp_version": version,
        "system_info": system.group(1).strip() if system else None,
        "model": os.path.basename(model),
        "model_sha256": sha256_file(model),
        "file": rel(a.file),
        "file_sha256": sha256_file(a.file),
        "ctx": r["ctx"],
        "batch_size": r["batch_size"],
        "n_seq": r["n_seq"],
        "threads": a.threads,
        "n_chunks": r["n_chunks"],
        "ppl": r["ppl"],
        "ppl_uncertainty": r["ppl_uncertainty"],
        "chunk_ppl": r["chunk_ppl"],
        "seconds": r["seconds"],
        "position_by_position": {
            "what": "the first chunks evaluated one position at a time without flash attention: "
                    "the numerics gemma-rs's mixed precision reproduces bit for bit",
            "command": shown(exact_cmd),
            "n_chunks": exact["n_chunks"],
            "ppl": exact["ppl"],
            "ppl_uncertainty": exact["ppl_uncertainty"],
            "chunk_ppl": exact["chunk_ppl"],
            "seconds": exact["seconds"],
        },
    }
    with open(a.out, "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")
    print(f"PPL = {r['ppl']} +/- {r['ppl_uncertainty']} over {r['n_chunks']} chunks "
          f"({r['seconds']} s); position by position, first {exact['n_chunks']} chunks: "
          f"{exact['chunk_ppl']} -> {rel(a.out)}")


if __name__ == "__main__":
    main()
