#!/usr/bin/env python3
"""Quantize a GGUF with llama.cpp's own quantizer, for comparing `gemma quantize` with it.

Usage: python scripts/llama_quantize.py INPUT.gguf OUTPUT.gguf FTYPE

FTYPE is llama.cpp's file type number (`enum llama_ftype`: 7 = Q8_0, 15 = Q4_K_M, ...).
Calls `llama_model_quantize` from llama-cpp-python 0.3.36 (libllama.so) with default
parameters plus allow_requantize (the input may already be quantized) and no importance
matrix, i.e. what `llama-quantize --allow-requantize INPUT OUTPUT FTYPE` does.
Run with the venv that has llama_cpp, e.g. /root/.cache/gemma-rs/venv-ref/bin/python.
"""

import ctypes
import sys

import llama_cpp


def main() -> None:
    src, dst, ftype = sys.argv[1], sys.argv[2], int(sys.argv[3])
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
    if rc != 0:
        sys.exit(f"llama_model_quantize returned {rc}")


if __name__ == "__main__":
    main()
