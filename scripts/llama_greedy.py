#!/usr/bin/env python3
"""Greedy continuation of a token prompt by llama.cpp, for checking GGUF files we write.

Usage: python scripts/llama_greedy.py MODEL.gguf --tokens 2,45,... [-n 16] [--ctx 256]

Loads MODEL.gguf with llama_cpp.Llama (llama-cpp-python 0.3.36; its extra CPU buffer types
(AMX / repacked weights) turned off as scripts/make_llama_reference.py does, since the AMX
kernels crash on machines without AMX state), evaluates the prompt one token at a time
(n_batch = n_ubatch = 1, the order gemma-rs's mixed precision reproduces) and then takes
the argmax of the last logits N times, feeding each chosen token back.

Prints one JSON object: {"llama_cpp_python": version, "prompt": [...], "generated": [...],
"top_logits": [[id, logit], ...] (the 5 best of the first step)}.
Run with the venv that has llama_cpp, e.g. /root/.cache/gemma-rs/venv-ref/bin/python.
"""

import argparse
import importlib.metadata
import json

import numpy as np
import llama_cpp


def disable_extra_buffer_types() -> None:
    original = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_cpp.llama_model_default_params = params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated prompt token ids")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=256)
    args = ap.parse_args()
    prompt = [int(t) for t in args.tokens.split(",") if t.strip()]
    disable_extra_buffer_types()
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.ctx, n_batch=1, n_ubatch=1,
                          logits_all=True, n_threads=1, n_threads_batch=1, verbose=False)
    for t in prompt:
        llm.eval([t])
    generated, top = [], []
    for step in range(args.n):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        if step == 0:
            order = np.argsort(-logits)[:5]
            top = [[int(i), float(logits[i])] for i in order]
        nxt = int(np.argmax(logits))
        generated.append(nxt)
        llm.eval([nxt])
    print(json.dumps({
        "llama_cpp_python": importlib.metadata.version("llama_cpp_python"),
        "prompt": prompt,
        "generated": generated,
        "top_logits": top,
    }))


if __name__ == "__main__":
    main()
