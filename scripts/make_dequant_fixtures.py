#!/usr/bin/env python3
"""Write the dequantization fixtures of crates/gemma-kernels/tests/data/.

Reference: the `gguf` Python package (`gguf.quants.dequantize`) and its GGUFReader.

  dequant_generated.json  random blocks of every supported type (seeded), with the
                          float fields (f16 d/dmin, f16/bf16/f32 values) replaced by
                          finite moderate values, and their dequantized floats.
  dequant_real_rows.json  a few rows of named tensors of the default model: the sha256
                          of the stored row bytes and the dequantized floats.

Usage: python scripts/make_dequant_fixtures.py [MODEL.gguf]
(run with the venv that has `gguf` and numpy; MODEL defaults to the default model path)
"""

import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240611
OUT = Path(__file__).resolve().parent.parent / "crates" / "gemma-kernels" / "tests" / "data"

# Byte offsets of the f16 scale fields inside one block, per type.
F16_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.IQ4_NL: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}

# Rows of the real model recorded per type: (tensor name, row indices).
REAL_ROWS = [
    ("output_norm.weight", [0]),  # F32, a single row
    ("token_embd.weight", [2, 100000]),  # Q8_0
    ("blk.0.attn_q.weight", [0, 7]),  # Q5_0
    ("blk.0.attn_output.weight", [0, 5]),  # Q4_K
    ("blk.0.ffn_down.weight", [0, 639]),  # Q6_K
]


def header(kind: str) -> dict:
    return {
        "generator": "scripts/make_dequant_fixtures.py",
        "reference": "gguf.quants.dequantize",
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "kind": kind,
    }


def floats(a: np.ndarray) -> list:
    # float32 -> Python float is exact; json writes the shortest round-tripping repr.
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def random_half(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 values of moderate size, both signs, a few subnormals and zeros."""
    v = rng.standard_normal(n) * 0.05
    v[rng.random(n) < 0.1] *= 1e-4  # some tiny ones (subnormal halves)
    v[rng.random(n) < 0.05] = 0.0
    return v.astype(np.float16)


def generated_case(rng: np.random.Generator, qtype: T, n_blocks: int) -> dict:
    block_len, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        raw = (rng.standard_normal(n_blocks) * 3.0).astype(np.float32).view(np.uint8)
    elif qtype == T.F16:
        # Any bit pattern whose exponent is not all ones: normals, subnormals, zeros.
        bits = rng.integers(0, 1 << 16, n_blocks, dtype=np.uint32).astype(np.uint16)
        bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0xBFFF, bits).astype(np.uint16)
        raw = bits.view(np.uint8)
    elif qtype == T.BF16:
        bits = rng.integers(0, 1 << 16, n_blocks, dtype=np.uint32).astype(np.uint16)
        bits = np.where((bits & 0x7F80) == 0x7F80, bits & 0xBFFF, bits).astype(np.uint16)
        raw = bits.view(np.uint8)
    else:
        blocks = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint16).astype(np.uint8)
        for off in F16_FIELDS[qtype]:
            blocks[:, off : off + 2] = random_half(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
        raw = blocks.reshape(-1)
    assert raw.size == n_blocks * block_bytes
    values = gguf.quants.dequantize(raw.copy(), qtype)
    assert values.size == n_blocks * block_len
    assert np.all(np.isfinite(values)), qtype.name
    return {
        "type": qtype.name,
        "n_weights": int(values.size),
        "hex": raw.tobytes().hex(),
        "values": floats(values),
    }


def make_generated() -> dict:
    rng = np.random.default_rng(SEED)
    cases = []
    for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL,
                  T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        block_len = GGML_QUANT_SIZES[qtype][0]
        n_blocks = {1: 96, 32: 5, 256: 3}[block_len]
        cases.append(generated_case(rng, qtype, n_blocks))
    out = header("generated-blocks")
    out["seed"] = SEED
    out["cases"] = cases
    return out


def make_real(model: Path) -> dict:
    reader = gguf.GGUFReader(str(model))
    by_name = {t.name: t for t in reader.tensors}
    rows = []
    for name, indices in REAL_ROWS:
        t = by_name[name]
        data = np.asarray(t.data)
        if data.ndim == 1:
            data = data.reshape(1, -1)
        for i in indices:
            raw = np.ascontiguousarray(data[i]).view(np.uint8)
            values = gguf.quants.dequantize(raw.copy(), t.tensor_type)
            rows.append({
                "tensor": name,
                "type": t.tensor_type.name,
                "row": i,
                "n_weights": int(values.size),
                "row_bytes_sha256": hashlib.sha256(raw.tobytes()).hexdigest(),
                "values": floats(values),
            })
    out = header("real-model-rows")
    out["model_file"] = model.name
    out["rows"] = rows
    return out


def main() -> None:
    default = Path(os.environ.get("GEMMA_HOME", Path.home() / ".cache" / "gemma-rs"))
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else default / "models" / "gemma-3-270m-q4_k_m.gguf"
    OUT.mkdir(parents=True, exist_ok=True)
    for fname, doc in [("dequant_generated.json", make_generated()),
                       ("dequant_real_rows.json", make_real(model))]:
        path = OUT / fname
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
