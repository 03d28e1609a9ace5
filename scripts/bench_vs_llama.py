#!/usr/bin/env python3
"""Side-by-side speed of gemma-rs and llama.cpp on the same GGUF and thread counts.

Builds llama.cpp's own `llama-bench` from the llama-cpp-python==0.3.36 source distribution
(scripts/build_llama_tools.sh, cached under $GEMMA_HOME; ~15 minutes the first time), builds
`gemma` in release mode, then runs `gemma bench` and `llama-bench` alternately (A B A B) with
the same -p/-n/-r on each thread count. Prints every figure, the ratios gemma/llama.cpp, the
peak RSS of each process (from wait4), and decode's fraction of the memory-bandwidth bound
(weight bytes read per token / bandwidth of a single-threaded copy measured here).

Usage: python3 scripts/bench_vs_llama.py [--model M] [--threads 1,2] [-p 512] [-n 128]
                                        [-r 5] [--rounds 2] [--llama-args "--repack 0"]
                                        [--no-amx]

`--no-amx` uses llama.cpp built without Intel AMX (build_llama_tools.sh --no-amx) with its
default settings (weight repacking on, `--llama-args` default empty): for CPUs that report AMX
where llama.cpp's AMX buffers crash, as on the machine these figures come from.

Standard library only. Timings come from each tool's own clock (never a Python loop).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_measured(cmd):
    """Runs cmd; returns (stdout, peak RSS in MiB) using wait4 on that child alone."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read stdout fully before waiting (the outputs are small).
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return out.decode(), ru.ru_maxrss / 1024.0


COPY_BENCH = """
import os, time
size = 512 << 20
src = bytearray(os.urandom(1 << 20)) * (size >> 20)
dst = bytearray(size)
best = 0.0
for _ in range(5):
    t = time.perf_counter()
    dst[:] = src
    best = max(best, 2 * size / (time.perf_counter() - t))
print(best)
"""


def copy_bandwidth():
    """Bytes/s of a single-threaded memcpy (read + write counted), best of 5, measured in a
    child process so that this process stays small (children inherit its RSS at fork)."""
    out = subprocess.run([sys.executable, "-c", COPY_BENCH], capture_output=True, text=True, check=True)
    return float(out.stdout)


def gguf_tensor_bytes(path):
    """Bytes of tensor data in a GGUF file (the file size minus its header is close; use gemma info)."""
    out = subprocess.run([GEMMA, "info", "--model", path], capture_output=True, text=True, check=True).stdout
    total = 0.0
    for line in out.splitlines():
        line = line.strip()
        if "tensors" in line and "MiB" in line and line.split()[0].isupper():
            total += float(line.split()[-2]) * (1 << 20)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="A B pairs per thread count")
    ap.add_argument("--llama-args", default=None,
                    help="extra llama-bench arguments (default --repack 0: llama.cpp's AMX "
                         "repacking crashes on this machine's CPU; with --no-amx, none)")
    ap.add_argument("--no-amx", action="store_true",
                    help="llama.cpp built without AMX, with its default weight repacking")
    a = ap.parse_args()
    if a.llama_args is None:
        a.llama_args = "" if a.no_amx else "--repack 0"

    print("building gemma (release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "gemma"], cwd=ROOT, check=True)
    global GEMMA
    GEMMA = os.path.join(ROOT, "target", "release", "gemma")
    model = a.model or subprocess.run([GEMMA, "pull", "--print-path"], capture_output=True, text=True,
                                      check=True).stdout.strip()
    print("building llama.cpp tools (cached)...", file=sys.stderr)
    build = ["bash", os.path.join(ROOT, "scripts", "build_llama_tools.sh")] + (["--no-amx"] if a.no_amx else [])
    bindir = subprocess.run(build, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    llama_bench = os.path.join(bindir, "llama-bench")

    bw = copy_bandwidth()
    weight_bytes = gguf_tensor_bytes(model)
    print(f"model: {model}")
    print(f"weights read per generated token: {weight_bytes / 1e6:.1f} MB; "
          f"single-thread copy bandwidth: {bw / 1e9:.2f} GB/s; "
          f"bound: {bw / weight_bytes:.1f} tokens/s")
    extra = shlex.split(a.llama_args)
    rows = []
    for t in [int(x) for x in a.threads.split(",")]:
        figs = {"gemma": {"pp": [], "tg": [], "rss": []}, "llama": {"pp": [], "tg": [], "rss": []}}
        for rnd in range(a.rounds):
            for who in ("gemma", "llama"):
                if who == "gemma":
                    cmd = [GEMMA, "bench", "--model", model, "-p", str(a.p), "-n", str(a.n),
                           "-t", str(t), "-r", str(a.r), "--json"]
                else:
                    cmd = [llama_bench, "-m", model, "-p", str(a.p), "-n", str(a.n), "-t", str(t),
                           "-r", str(a.r), "-o", "json"] + extra
                out, rss = run_measured(cmd)
                res = json.loads(out)
                for r in res:
                    key = "pp" if r["n_prompt"] > 0 and r["n_gen"] == 0 else "tg"
                    figs[who][key].append(r["avg_ts"])
                figs[who]["rss"].append(rss)
                print(f"threads {t} round {rnd + 1} {who:6}: pp{a.p} "
                      f"{figs[who]['pp'][-1]:8.2f} t/s  tg{a.n} {figs[who]['tg'][-1]:7.2f} t/s  "
                      f"peak RSS {rss:7.1f} MiB")
        mean = lambda v: sum(v) / len(v)
        g, l = figs["gemma"], figs["llama"]
        rows.append((t, mean(g["pp"]), mean(l["pp"]), mean(g["tg"]), mean(l["tg"]),
                     max(g["rss"]), max(l["rss"])))
    print()
    print(f"| threads | gemma pp{a.p} | llama.cpp pp{a.p} | ratio | gemma tg{a.n} | llama.cpp tg{a.n} "
          f"| ratio | gemma RSS MiB | llama.cpp RSS MiB | gemma tg / bound |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    bound = bw / weight_bytes
    for t, gp, lp, gt, lt, gr, lr in rows:
        print(f"| {t} | {gp:.2f} | {lp:.2f} | {gp / lp:.2f}x | {gt:.2f} | {lt:.2f} | {gt / lt:.2f}x "
              f"| {gr:.1f} | {lr:.1f} | {gt / bound:.0%} |")
    print(f"\nllama.cpp build: {bindir}")
    print(f"llama-bench extra arguments: {' '.join(extra) or '(none)'}; "
          f"{a.rounds} A/B rounds of -r {a.r} each per thread count.")


if __name__ == "__main__":
    main()
