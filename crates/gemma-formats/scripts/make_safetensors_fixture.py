#!/usr/bin/env python3
"""Write tests/data/pyfixture.safetensors with the `safetensors` Python package, and
tests/data/pyfixture_safetensors.json describing exactly what was written.

F32 and F16 tensors go through `safetensors.numpy.save_file`. numpy has no bfloat16,
so the BF16 tensor is passed to the package's own `safetensors.serialize_file` (the
function `save_file` calls) as raw bfloat16 bits held in a uint16 array, with dtype
"bfloat16"; the package writes the header and layout either way. The JSON lists each
tensor's dtype, shape (safetensors order), the values as IEEE bit patterns (f32 bits;
f16/bf16 16-bit patterns) and the metadata, and is checked against what the package's
own `safe_open` reads back.

Usage (from the repository root):
    /root/.cache/gemma-rs/venv-ref/bin/python crates/gemma-formats/scripts/make_safetensors_fixture.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file, safe_open
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
# One key only: the package orders metadata keys by a hash map, so more would make
# the file differ from run to run.
METADATA = {"format": "np (gemma-rs fixture, ünïcode ok)"}


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even f32 -> bf16 bit patterns (no NaN inputs here)."""
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16)


def main() -> None:
    rng = np.random.default_rng(20240601)
    f32 = {
        "model.norm.weight": rng.standard_normal(8).astype(np.float32),
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((3, 5)).astype(np.float32),
        "scalar": np.array(np.float32(-0.0)),
        "edge": np.array([np.inf, -np.inf, 1e-45, 3.4028235e38, -1.5], dtype=np.float32),
    }
    f16 = {
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((2, 3, 4)).astype(np.float16),
        "model.layers.0.self_attn.k_proj.weight": np.array([[65504.0, -6e-8], [0.5, -2.0]], dtype=np.float16),
    }
    bf16_src = rng.standard_normal((4, 3)).astype(np.float32)
    bf16 = {"model.embed_tokens.weight": bf16_bits(bf16_src)}

    np_path = OUT / "pyfixture_np.tmp.safetensors"
    save_file({**f32, **f16}, str(np_path), metadata=METADATA)
    # Check that the numpy path and our combined file agree on numpy tensors: the
    # committed file is written in one go by serialize_file with all three dtypes.
    specs = {}
    keep = []
    for name, arr in {**f32, **f16}.items():
        a = np.ascontiguousarray(arr)
        keep.append(a)
        specs[name] = TensorSpec(dtype=a.dtype.name, shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
    for name, arr in bf16.items():
        a = np.ascontiguousarray(arr)
        keep.append(a)
        specs[name] = TensorSpec(dtype="bfloat16", shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
    path = OUT / "pyfixture.safetensors"
    serialize_file(specs, str(path), metadata=METADATA)

    # Read both back with the package itself.
    with safe_open(str(np_path), framework="np") as f:
        for name, arr in {**f32, **f16}.items():
            assert f.get_tensor(name).tobytes() == arr.tobytes(), name
    np_path.unlink()

    # Bits of the values written; shape and dtype as the package reports them when
    # reading the file back (it stores a 0-d array with shape [1]).
    bits = {}
    for name, arr in f32.items():
        bits[name] = np.ravel(arr).view(np.uint32).tolist()
    for name, arr in f16.items():
        bits[name] = np.ravel(arr).view(np.uint16).tolist()
    for name, arr in bf16.items():
        bits[name] = np.ravel(arr).tolist()
    tensors = {}
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == METADATA
        assert sorted(f.keys()) == sorted(bits)
        for name in f.keys():
            sl = f.get_slice(name)
            tensors[name] = {"dtype": sl.get_dtype(), "shape": list(sl.get_shape()), "bits": bits[name]}
            if sl.get_dtype() != "BF16":  # numpy cannot hold bf16
                got = f.get_tensor(name)
                assert got.tobytes() == np.ascontiguousarray({**f32, **f16}[name]).tobytes(), name

    desc = {
        "generator": f"safetensors {safetensors.__version__}, numpy {np.__version__}, "
        f"Python {sys.version.split()[0]}, scripts/make_safetensors_fixture.py",
        "metadata": METADATA,
        "tensors": tensors,
    }
    (OUT / "pyfixture_safetensors.json").write_text(json.dumps(desc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
