#!/usr/bin/env python3
"""Write crates/gemma-kernels/tests/data/quantize_ggml.json: ggml's own weight quantizers.

Reference: `ggml_quantize_chunk(type, src, dst, 0, 1, n, NULL)` from the libggml-base.so
shipped in the installed llama-cpp-python (0.3.36), loaded with ctypes. Without an importance
matrix this is exactly what `llama-quantize` runs: `quantize_row_*_ref` for the block types,
`ggml_fp32_to_fp16_row` for F16, `ggml_fp32_to_bf16_row_ref` for BF16, a copy for F32.
For the types the `gguf` Python package can quantize (BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)
and for F16 (NumPy's astype(float16)), the script also checks that the package gives the
same bytes and records the outcome per case (`gguf_same`).

  rows      seeded f32 rows (as f32 little-endian hex): gaussian, weight-like, outliers and
            all-zero blocks, tiny and subnormal magnitudes, exact rounding ties, one-signed
            rows, constant rows, heavy tails, huge values (f16 scale overflow), rows of the
            default model (dequantized), and a float-specials row (inf, NaN, f16 ties and
            limits) used for F32/F16/BF16 only.
  cases     for every type and every row whose length is a whole number of its blocks:
            the output bytes (hex).

Usage: python scripts/make_quantize_fixtures.py [MODEL.gguf]
(run with the venv that has llama_cpp, gguf and numpy, e.g. /root/.cache/gemma-rs/venv-ref;
MODEL defaults to $GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf and is optional)
"""

import ctypes
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
import gguf.quants
import llama_cpp
from gguf import GGMLQuantizationType as T

SEED = 20260509
OUT = Path(__file__).resolve().parent.parent / "crates" / "gemma-kernels" / "tests" / "data"
FIXTURE = "quantize_ggml.json"

TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
         T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
GGUF_TYPES = {T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}
FLOAT_TYPES = {T.F32, T.F16, T.BF16}


class Ggml:
    def __init__(self) -> None:
        lib = Path(llama_cpp.__file__).resolve().parent / "lib"
        self.base = ctypes.CDLL(str(lib / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
        self.base.ggml_row_size.restype = ctypes.c_size_t
        self.base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        self.base.ggml_quantize_chunk.restype = ctypes.c_size_t
        self.base.ggml_quantize_chunk.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
            ctypes.c_int64, ctypes.c_void_p]

    def quantize(self, qtype: T, x: np.ndarray) -> bytes:
        x = np.ascontiguousarray(x, dtype=np.float32)
        size = self.base.ggml_row_size(int(qtype), x.size)
        out = (ctypes.c_uint8 * size)()
        n = self.base.ggml_quantize_chunk(int(qtype), x.ctypes.data, ctypes.addressof(out),
                                          0, 1, x.size, None)
        assert n == size, (qtype, n, size)
        return bytes(out)


def gguf_bytes(qtype: T, x: np.ndarray) -> bytes:
    if qtype == T.F16:
        return x.astype(np.float16).tobytes()
    return np.asarray(gguf.quants.quantize(x.reshape(1, -1), qtype)).tobytes()


def rows(rng: np.random.Generator, model: Path) -> list:
    out = []
    out.append(("normal-256", rng.standard_normal(256)))
    out.append(("weight-like-1024", rng.standard_normal(1024) * 0.02))

    x = rng.standard_normal(512)
    x[rng.choice(512, 6, replace=False)] *= 150.0
    x[32:64] = 0.0  # an all-zero 32-block
    x[256:512] = 0.0  # an all-zero 256-block ...
    x[300] = 1e-3  # ... except one value
    out.append(("outliers-zero-blocks-512", x))

    scales = np.repeat(10.0 ** rng.uniform(-12, 2, 24), 32)
    scales[0:32] = 1e-30
    scales[64:96] = 1e-40  # subnormal f32 inputs
    out.append(("tiny-mixed-768", rng.standard_normal(768) * scales))

    x = rng.integers(-126, 126, 512).astype(np.float64) + 0.5
    x[::32] = 127.0
    x[5::64] = -127.0
    out.append(("ties-512", x))
    out.append(("small-integers-256", rng.integers(-8, 8, 256).astype(np.float64)))
    out.append(("positive-512", rng.uniform(0.5, 3.0, 512)))
    out.append(("negative-512", -rng.uniform(0.01, 3.0, 512)))
    out.append(("constant-256", np.full(256, 0.75)))
    out.append(("zeros-256", np.zeros(256)))
    out.append(("student-t-1024", rng.standard_t(2.0, 1024)))
    x = rng.standard_normal(256)
    x[10], x[20] = -5.0, 5.0
    x[200], x[230] = 7.0, -7.0
    out.append(("opposite-extremes-256", x))
    out.append(("hidden-like-2048", rng.standard_normal(2048) * np.exp(rng.standard_normal(2048) * 1.5)))
    out.append(("huge-256", rng.standard_normal(256) * 1e7))
    out.append(("legacy-only-96", rng.standard_normal(96)))
    if model.exists():
        reader = gguf.GGUFReader(str(model))
        by_name = {t.name: t for t in reader.tensors}
        for name, i in [("blk.0.ffn_down.weight", 5), ("blk.3.attn_output.weight", 17),
                        ("token_embd.weight", 1000), ("blk.0.attn_q.weight", 3)]:
            t = by_name[name]
            deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
            out.append((f"model {name} row {i}", deq.reshape(-1, int(t.shape[0]))[i]))
    else:
        print(f"note: {model} missing, no model rows", file=sys.stderr)
    return [(n, np.asarray(v, dtype=np.float32)) for n, v in out]


def float_specials(rng: np.random.Generator) -> np.ndarray:
    v = [np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6,
         6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-8, 1e-40, -1e-45, 3.4e38]
    x = np.array(v + list(rng.standard_normal(64 - len(v))), dtype=np.float32)
    bits = x.view(np.uint32)
    bits[-8] = 0x7FC12345  # NaN with payload
    bits[-7] = 0xFFA00001  # signalling NaN, negative
    bits[-6] = 0x3F801000  # 1 + 2^-11: an f16 tie (rounds to even)
    bits[-5] = 0x3F803000  # 1 + 3*2^-11: tie rounding up
    bits[-4] = 0x3F808000  # bf16 tie
    bits[-3] = 0x3F818000  # bf16 tie rounding up
    bits[-2] = 0x387FC000  # near the f16 subnormal limit
    bits[-1] = 0x33000001  # just above half the smallest f16 subnormal
    return x


def main() -> None:
    home = Path(os.environ.get("GEMMA_HOME", Path.home() / ".cache" / "gemma-rs"))
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else home / "models" / "gemma-3-270m-q4_k_m.gguf"
    rng = np.random.default_rng(SEED)
    ggml = Ggml()
    all_rows = rows(rng, model)
    all_rows.append(("float-specials-64", float_specials(rng)))
    cases = []
    disagree = []
    for name, x in all_rows:
        for qtype in TYPES:
            block = gguf.constants.GGML_QUANT_SIZES[qtype][0]
            if x.size % block:
                continue
            if name.startswith("float-specials") and qtype not in FLOAT_TYPES:
                continue
            want = ggml.quantize(qtype, x)
            case = {"row": name, "type": qtype.name, "hex": want.hex()}
            if qtype in GGUF_TYPES or qtype == T.F16:
                with np.errstate(all="ignore"):
                    same = gguf_bytes(qtype, x) == want
                case["gguf_same"] = same
                if not same:
                    disagree.append(f"{qtype.name} {name}")
            cases.append(case)
    doc = {
        "generator": "scripts/make_quantize_fixtures.py",
        "reference": "ggml_quantize_chunk (no imatrix) from llama-cpp-python's libggml-base.so",
        "llama_cpp_python_version": importlib.metadata.version("llama_cpp_python"),
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "seed": SEED,
        "gguf_disagreements": disagree,
        "rows": [{"name": n, "n": int(x.size), "x_hex": x.astype("<f4").tobytes().hex()}
                 for n, x in all_rows],
        "cases": cases,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / FIXTURE).write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {OUT / FIXTURE}: {len(all_rows)} rows, {len(cases)} cases")
    print(f"gguf package disagrees with ggml on: {disagree or 'nothing'}")


if __name__ == "__main__":
    main()
