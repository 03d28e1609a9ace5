#!/usr/bin/env python3
"""Tokenize golden strings with llama.cpp on a GGUF vocabulary and compare with golden ids.

Usage: python scripts/llama_vocab_check.py MODEL.gguf [--hf HF_GOLDEN.jsonl]
                                                      [--llama LLAMA_GOLDEN.jsonl]

MODEL.gguf is a GGUF written by `gemma quantize` (only its vocabulary is loaded:
llama_cpp.Llama(vocab_only=True)).

--hf: lines {"text", "ids"} made by scripts/make_hf_tokenizer_golden.py (Hugging Face
  tokenizers, add_special_tokens=True), e.g. crates/gemma-tokenizer/tests/data/
  hf_golden_gemma3.jsonl; compared with tokenize(text, add_bos=True, special=True)
  (special=True because HF tokenizers match every added token in the text).
--llama: lines {"text", "ids_special", "ids_plain"} made by scripts/make_tokenizer_golden.py
  (llama.cpp on the real Gemma 3 GGUF), e.g. crates/gemma-tokenizer/tests/data/
  gemma3_gguf_golden.jsonl; compared with tokenize(text, True, True) and
  tokenize(text, False, False).

Prints one JSON object: {"llama_cpp_python": version, "hf": {"checked", "mismatches"},
"llama": {...}} (each mismatch: the text, the golden ids and ours). Exit code 0 even with
mismatches; the caller decides. Run with the venv that has llama_cpp (llama-cpp-python
0.3.36), e.g. /root/.cache/gemma-rs/venv-ref/bin/python.
"""

import argparse
import importlib.metadata
import json

import llama_cpp


def rows(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if "text" in row:
                yield row


def compare(llm, path, cases):
    checked, mismatches = 0, []
    for row in rows(path):
        for key, add_bos, special in cases:
            if key not in row:
                continue
            got = list(llm.tokenize(row["text"].encode("utf-8"), add_bos=add_bos, special=special))
            checked += 1
            if got != row[key]:
                mismatches.append({"text": row["text"][:200], "key": key,
                                   "golden": row[key][:50], "ours": got[:50]})
    return {"checked": checked, "mismatches": mismatches}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--hf")
    ap.add_argument("--llama")
    args = ap.parse_args()
    llm = llama_cpp.Llama(model_path=args.model, vocab_only=True, verbose=False)
    out = {"llama_cpp_python": importlib.metadata.version("llama_cpp_python")}
    if args.hf:
        out["hf"] = compare(llm, args.hf, [("ids", True, True)])
    if args.llama:
        out["llama"] = compare(llm, args.llama, [("ids_special", True, True),
                                                 ("ids_plain", False, False)])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
