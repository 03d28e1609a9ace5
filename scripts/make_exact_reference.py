#!/usr/bin/env python3
"""Make tests/data/exact_reference.json: exact (float64) logits of the default model.

For every prompt of tests/data/llama_reference.json (same token ids), the float64 NumPy forward
pass of scripts/gemma3_numpy_ref.py, on the weights dequantized by the `gguf` package, gives the
top-20 (id, logit) at the last prompt position. It is the mathematical answer for the stored
weights, without llama.cpp's 8-bit activations and f16 KV cache; gemma-rs's `--precision f32`
must agree with it closely.

Usage (from the repository root; ~3 GB of RAM, about a minute on 2 cores):
    python3 -m venv ~/.cache/gemma-rs/venv-ref && ~/.cache/gemma-rs/venv-ref/bin/pip install gguf numpy
    ~/.cache/gemma-rs/venv-ref/bin/python scripts/make_exact_reference.py [--model PATH]
The model path defaults to $GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf (`gemma pull --print-path`).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gemma3_numpy_ref import NumpyGemma3  # noqa: E402

TOP = 20


def main() -> int:
    home = os.environ.get("GEMMA_HOME") or os.path.expanduser("~/.cache/gemma-rs")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(home, "models", "gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--cases", default="tests/data/llama_reference.json")
    ap.add_argument("--out", default="tests/data/exact_reference.json")
    a = ap.parse_args()
    ref = NumpyGemma3(a.model)
    cases = json.load(open(a.cases))["cases"]
    out = []
    for c in cases:
        toks = c["prompt_tokens"]
        row = ref.logits(toks, len(toks) - 1)[0]
        idx = sorted(np.argpartition(-row, TOP)[:TOP].tolist(), key=lambda i: (-row[i], i))
        out.append({"name": c["name"], "prompt_tokens": toks, "top": [{"id": int(i), "logit": float(row[i])} for i in idx]})
        print(f"{c['name']}: {len(toks)} tokens, top {idx[:3]}")
    header = {
        "generated_by": "scripts/make_exact_reference.py (float64 forward of scripts/gemma3_numpy_ref.py)",
        "gguf": importlib.metadata.version("gguf"),
        "numpy": np.__version__,
        "model_file": os.path.basename(a.model),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "top": TOP,
    }
    with open(a.out, "w") as f:
        json.dump({"header": header, "cases": out}, f, indent=0)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
