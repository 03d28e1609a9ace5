#!/usr/bin/env python3
"""Write crates/gemma-kernels/tests/data/act_quant_ggml.json: llama.cpp's own CPU numerics
for activation quantization and quantized dot products.

Reference: ggml's CPU backend as shipped in the installed llama-cpp-python package
(libggml-cpu.so / libggml-base.so, loaded with ctypes). For each weight type, ggml's
`ggml_get_type_traits_cpu(type)` names the activation format (`vec_dot_type`) and the dot
product kernel (`vec_dot`); `ggml_get_type_traits_cpu(vec_dot_type)->from_float` is the
activation quantizer the matrix multiplication runs. Both are called here exactly as
ggml's mul_mat does (one row, nrc = 1).

  activations  seeded float rows (lengths 256/512/640/1024/2048; outliers, all-zero
               blocks, tiny and subnormal values, exact rounding ties, inf/NaN), as f32 hex.
  quantized    for every activation format, from_float's output bytes for every row whose
               length is a whole number of its blocks (output buffer zero-filled first).
  dots         for every weight type, weight rows (a few rows of the default model for its
               types F32/Q8_0/Q5_0/Q4_K/Q6_K, random valid blocks for the others) times
               quantized activation rows: vec_dot's f32 result.

Usage: python scripts/make_act_fixtures.py [MODEL.gguf]
(run with the venv that has llama_cpp, gguf and numpy; MODEL defaults to the default model)
"""

import ctypes
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
import llama_cpp
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_dequant_fixtures import F16_FIELDS, random_half  # noqa: E402

SEED = 20250611
OUT = Path(__file__).resolve().parent.parent / "crates" / "gemma-kernels" / "tests" / "data"
FIXTURE = "act_quant_ggml.json"

WEIGHT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL,
                T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
ACT_NAMES = {0: "F32", 1: "F16", 8: "Q8_0", 9: "Q8_1", 15: "Q8_K", 30: "BF16"}
ACT_BLOCK = {"F32": 1, "F16": 1, "BF16": 1, "Q8_0": 32, "Q8_1": 32, "Q8_K": 256}

# Rows of the default model used as weights: (tensor, row indices).
REAL_ROWS = [
    ("output_norm.weight", [0]),  # F32, 640
    ("blk.0.attn_k_norm.weight", [0]),  # F32, 256
    ("token_embd.weight", [2, 100000]),  # Q8_0, 640
    ("blk.0.attn_v.weight", [7]),  # Q8_0, 640
    ("blk.0.attn_q.weight", [0]),  # Q5_0, 640
    ("blk.0.ffn_gate.weight", [11]),  # Q5_0, 640
    ("blk.0.attn_output.weight", [0, 5]),  # Q4_K, 1024
    ("blk.5.ffn_down.weight", [3]),  # Q4_K, 2048
    ("blk.0.ffn_down.weight", [0, 639]),  # Q6_K, 2048
]


class TypeTraitsCpu(ctypes.Structure):
    # struct ggml_type_traits_cpu in ggml/include/ggml-cpu.h
    _fields_ = [
        ("from_float", ctypes.c_void_p),
        ("vec_dot", ctypes.c_void_p),
        ("vec_dot_type", ctypes.c_int),
        ("nrows", ctypes.c_int64),
    ]


FromFloat = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
VecDot = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                          ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                          ctypes.c_int)


class Ggml:
    def __init__(self) -> None:
        lib = Path(llama_cpp.__file__).resolve().parent / "lib"
        self.base = ctypes.CDLL(str(lib / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
        self.cpu = ctypes.CDLL(str(lib / "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
        self.cpu.ggml_cpu_init.restype = None
        self.cpu.ggml_cpu_init()
        self.cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TypeTraitsCpu)
        self.cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
        self.base.ggml_row_size.restype = ctypes.c_size_t
        self.base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]

    def traits(self, type_id: int) -> TypeTraitsCpu:
        return self.cpu.ggml_get_type_traits_cpu(type_id).contents

    def act_type(self, w: T) -> int:
        return self.traits(int(w)).vec_dot_type

    def row_size(self, type_id: int, n: int) -> int:
        return self.base.ggml_row_size(type_id, n)

    def quantize(self, act_id: int, x: np.ndarray) -> bytes:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = (ctypes.c_uint8 * self.row_size(act_id, x.size))()  # zero-filled
        f = FromFloat(self.traits(act_id).from_float)
        f(x.ctypes.data, ctypes.addressof(out), x.size)
        return bytes(out)

    def dot(self, w: T, row: bytes, n: int, xq: bytes) -> float:
        assert len(row) == self.row_size(int(w), n)
        assert len(xq) == self.row_size(self.act_type(w), n)
        f = VecDot(self.traits(int(w)).vec_dot)
        rb = ctypes.create_string_buffer(row, len(row))
        qb = ctypes.create_string_buffer(xq, len(xq))
        s = ctypes.c_float(np.nan)
        f(n, ctypes.byref(s), 0, ctypes.addressof(rb), 0, ctypes.addressof(qb), 0, 1)
        return s.value


def activation_rows(rng: np.random.Generator) -> list:
    """(name, floats, for_dots) rows exercising the quantizers' corner cases."""
    rows = []
    rows.append(("normal-256", rng.standard_normal(256), True))

    x = rng.standard_normal(512)
    x[rng.choice(512, 6, replace=False)] *= 150.0  # large outliers
    x[32:64] = 0.0  # an all-zero 32-block
    x[256:512] = 0.0  # an all-zero 256-block
    x[300] = 1e-3  # ... except one value in a 32-block of it
    rows.append(("outliers-zero-blocks-512", x, True))

    # Per-32-block magnitudes from ordinary to tiny: d underflows f16 for the smallest.
    scales = np.repeat(10.0 ** rng.uniform(-12, 2, 20), 32)
    scales[0:32] = 1e-30
    rows.append(("tiny-mixed-640", rng.standard_normal(640) * scales, True))

    # Exact rounding ties: each 32-block has max |x| = 127 (scale 1), the rest k + 1/2;
    # for Q8_K the first extreme is +127 (iscale -1), so ties appear there too.
    x = rng.integers(-126, 126, 1024).astype(np.float64) + 0.5
    x[::32] = 127.0
    x[5::64] = -127.0
    rows.append(("ties-1024", x, True))

    # Like a transformer hidden state: log-normal channel magnitudes.
    x = rng.standard_normal(2048) * np.exp(rng.standard_normal(2048) * 1.5)
    rows.append(("hidden-like-2048", x, True))
    rows.append(("uniform-2048", rng.uniform(-30.0, 30.0, 2048), True))

    # Equal magnitudes of opposite signs: Q8_K takes the sign of the first extreme.
    x = rng.standard_normal(512)
    x[10], x[20] = -5.0, 5.0
    x[256 + 3], x[256 + 200] = 7.0, -7.0
    rows.append(("opposite-extremes-512", x, True))

    rows.append(("hidden-like-640", rng.standard_normal(640) * np.exp(rng.standard_normal(640)), True))

    # Non-finite and subnormal inputs: quantization bytes only.
    x = rng.standard_normal(256).astype(np.float32)
    x[0:32] = rng.standard_normal(32) * 1e-39  # subnormal f32 (scale overflows to inf)
    x[40] = np.inf
    x[70] = -np.inf
    x[100] = np.nan
    x[130:162] = np.nan
    x[200] = 3e38
    rows.append(("special-256", x, False))
    return [(name, np.asarray(v, dtype=np.float32), d) for name, v, d in rows]


def random_weight_row(rng: np.random.Generator, qtype: T, n: int) -> bytes:
    block_len, block_bytes = GGML_QUANT_SIZES[qtype]
    nb = n // block_len
    if qtype == T.F32:
        return (rng.standard_normal(n) * 0.1).astype(np.float32).tobytes()
    if qtype == T.F16:
        return (rng.standard_normal(n) * 0.1).astype(np.float16).tobytes()
    if qtype == T.BF16:
        bits = (rng.standard_normal(n) * 0.1).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).tobytes()
    blocks = rng.integers(0, 256, (nb, block_bytes), dtype=np.uint16).astype(np.uint8)
    for off in F16_FIELDS[qtype]:
        blocks[:, off:off + 2] = random_half(rng, nb).view(np.uint8).reshape(nb, 2)
    return blocks.tobytes()


def real_rows(model: Path) -> dict:
    reader = gguf.GGUFReader(str(model))
    by_name = {t.name: t for t in reader.tensors}
    out = {}
    for name, indices in REAL_ROWS:
        t = by_name[name]
        data = np.asarray(t.data)
        if data.ndim == 1:
            data = data.reshape(1, -1)
        n = int(t.shape[0])
        for i in indices:
            raw = np.ascontiguousarray(data[i]).view(np.uint8).tobytes()
            out.setdefault(t.tensor_type, []).append((f"{name} row {i}", n, raw))
    return out


def main() -> None:
    default = Path(os.environ.get("GEMMA_HOME", Path.home() / ".cache" / "gemma-rs"))
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else default / "models" / "gemma-3-270m-q4_k_m.gguf"
    g = Ggml()
    rng = np.random.default_rng(SEED)
    acts = activation_rows(rng)

    act_ids = sorted({g.act_type(w) for w in WEIGHT_TYPES})
    for a in act_ids:
        assert a in ACT_NAMES, f"unexpected vec_dot_type {a}"

    quantized = {}  # (act id, activation index) -> bytes
    qdoc = []
    for a in act_ids:
        for ai, (name, x, _) in enumerate(acts):
            if x.size % ACT_BLOCK[ACT_NAMES[a]]:
                continue
            b = g.quantize(a, x)
            quantized[(a, ai)] = b
            qdoc.append({"act_type": ACT_NAMES[a], "activation": ai, "hex": b.hex()})

    reals = real_rows(model)
    dots = []
    for w in WEIGHT_TYPES:
        a = g.act_type(w)
        block_len = GGML_QUANT_SIZES[w][0]
        for ai, (name, x, for_dots) in enumerate(acts):
            if not for_dots or x.size % block_len:
                continue
            cases = [("random", random_weight_row(rng, w, x.size))]
            cases += [(src, raw) for src, n, raw in reals.get(w, []) if n == x.size]
            for src, row in cases:
                s = g.dot(w, row, x.size, quantized[(a, ai)])
                assert np.isfinite(s), (w.name, src, name)
                dots.append({
                    "type": w.name,
                    "act_type": ACT_NAMES[a],
                    "weights": src,
                    "activation": ai,
                    "row_hex": row.hex(),
                    "result": float(s),
                    "result_bits": f"{np.float32(s).view(np.uint32):08x}",
                })

    doc = {
        "generator": "scripts/make_act_fixtures.py",
        "reference": "ggml CPU backend of llama-cpp-python (from_float of vec_dot_type, vec_dot)",
        "llama_cpp_python_version": importlib.metadata.version("llama_cpp_python"),
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "cpu_features": llama_cpp.llama_print_system_info().decode().strip(),
        "model_file": model.name,
        "seed": SEED,
        "act_types": {w.name: ACT_NAMES[g.act_type(w)] for w in WEIGHT_TYPES},
        "activations": [
            {"name": name, "n": int(x.size), "for_dots": d, "x_hex": x.astype("<f4").tobytes().hex()}
            for name, x, d in acts
        ],
        "quantized": qdoc,
        "dots": dots,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / FIXTURE
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(qdoc)} quantized rows, {len(dots)} dots)")


if __name__ == "__main__":
    main()
