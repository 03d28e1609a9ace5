#!/usr/bin/env python3
"""Write tests/data/pyfixture.gguf with the `gguf` Python package's GGUFWriter, and
tests/data/pyfixture.json describing exactly what was written.

The file covers every GGUF metadata value type (edge values included), typed arrays
of every scalar type and of strings, nested arrays (including arrays of arrays of
different element types), a custom alignment (64), and tensors of types F32, F16,
Q8_0 and Q4_K. The JSON lists the metadata in file order with explicit types
(floats as IEEE bit patterns, so NaN, infinities and -0.0 compare exactly) and each
tensor's GGML type, GGML-order dims, data offset and bytes (hex).

Usage (from the repository root):
    /root/.cache/gemma-rs/venv-ref/bin/python crates/gemma-formats/scripts/make_gguf_fixture.py
"""

import json
import struct
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFValueType as T, GGMLQuantizationType as Q

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"

F32_BITS = lambda x: struct.unpack("<I", struct.pack("<f", x))[0]
F64_BITS = lambda x: struct.unpack("<Q", struct.pack("<d", x))[0]


def typed(vtype, value):
    """The JSON description of a value as the writer packs it."""
    if vtype == T.ARRAY:
        # Element type: as GGUFWriter infers it from the first element.
        sub = T.get_type(value[0])
        return {"type": "array", "items": [typed(sub, v) for v in value]}
    if vtype == T.FLOAT32:
        return {"type": "float32", "bits": F32_BITS(value)}
    if vtype == T.FLOAT64:
        return {"type": "float64", "bits": F64_BITS(value)}
    name = {T.UINT8: "uint8", T.INT8: "int8", T.UINT16: "uint16", T.INT16: "int16",
            T.UINT32: "uint32", T.INT32: "int32", T.BOOL: "bool", T.STRING: "string",
            T.UINT64: "uint64", T.INT64: "int64"}[vtype]
    return {"type": name, "value": value}


def typed_array(sub, values):
    return {"type": "array", "items": [typed(sub, v) for v in values]}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "pyfixture.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3")  # adds general.architecture first
    meta = [("general.architecture", typed(T.STRING, "gemma3"))]

    def kv(key, vtype, value, sub_type=None):
        w.add_key_value(key, value, vtype, sub_type=sub_type)
        if vtype == T.ARRAY and sub_type is not None:
            meta.append((key, typed_array(sub_type, value)))
        else:
            meta.append((key, typed(vtype, value)))

    w.add_custom_alignment(64)
    meta.append(("general.alignment", typed(T.UINT32, 64)))
    kv("test.u8", T.UINT8, 255)
    kv("test.i8", T.INT8, -128)
    kv("test.u16", T.UINT16, 65535)
    kv("test.i16", T.INT16, -32768)
    kv("test.u32", T.UINT32, 4294967295)
    kv("test.i32", T.INT32, -2147483648)
    kv("test.f32", T.FLOAT32, 1e-6)
    kv("test.f32_neg_zero", T.FLOAT32, -0.0)
    kv("test.f32_inf", T.FLOAT32, float("-inf"))
    kv("test.f32_nan", T.FLOAT32, float("nan"))
    kv("test.bool_true", T.BOOL, True)
    kv("test.bool_false", T.BOOL, False)
    kv("test.string", T.STRING, "héllo ▁wörld <start_of_turn>\n")
    kv("test.string_empty", T.STRING, "")
    kv("test.u64", T.UINT64, 18446744073709551615)
    kv("test.i64", T.INT64, -9223372036854775808)
    kv("test.f64", T.FLOAT64, 1.0e300)
    kv("test.arr_u8", T.ARRAY, [0, 1, 255], T.UINT8)
    kv("test.arr_i8", T.ARRAY, [-128, 0, 127], T.INT8)
    kv("test.arr_u16", T.ARRAY, [0, 65535], T.UINT16)
    kv("test.arr_i16", T.ARRAY, [-32768, 32767], T.INT16)
    kv("test.arr_u32", T.ARRAY, [0, 4294967295], T.UINT32)
    kv("test.arr_i32", T.ARRAY, [-2147483648, 0, 2147483647], T.INT32)
    kv("test.arr_f32", T.ARRAY, [0.5, -2.25, 3.4e38], T.FLOAT32)
    kv("test.arr_bool", T.ARRAY, [True, False, True], T.BOOL)
    kv("test.arr_str", T.ARRAY, ["<pad>", "", "▁the", "日本"], T.STRING)
    kv("test.arr_u64", T.ARRAY, [0, 18446744073709551615], T.UINT64)
    kv("test.arr_i64", T.ARRAY, [-9223372036854775808, 9223372036854775807], T.INT64)
    kv("test.arr_f64", T.ARRAY, [-0.0, 2.5e-300], T.FLOAT64)
    # Nested arrays: element types inferred by GGUFWriter (int -> int32, float -> float32).
    kv("test.nested_i32", T.ARRAY, [[1, 2, 3], [-4], [5, 6]])
    kv("test.nested_str", T.ARRAY, [["a"], ["b", "c"]])
    kv("test.nested_mixed", T.ARRAY, [[1, 2], ["x", "y"], [1.5], [True]])
    kv("test.nested_deep", T.ARRAY, [[[1.5, 2.5]], [[-1.0], [0.25]]])
    kv("test.vocab_like", T.ARRAY, [f"tok{i}" for i in range(40)], T.STRING)

    rng = np.random.RandomState(1234)
    tensors = []

    def tensor(name, array, raw_dtype=None):
        if raw_dtype is None:
            w.add_tensor(name, array)
        else:
            w.add_tensor(name, array, raw_dtype=raw_dtype)
        tensors.append((name, array, raw_dtype))

    tensor("a.f32", rng.standard_normal((3, 5)).astype(np.float32))        # dims [5, 3]
    tensor("b.f16", rng.standard_normal((2, 2, 4)).astype(np.float16))     # dims [4, 2, 2]
    tensor("c.q8_0", rng.randint(0, 256, size=(2, 2 * 34), dtype=np.uint8), Q.Q8_0)  # dims [64, 2]
    tensor("d.q4_k", rng.randint(0, 256, size=(1, 144), dtype=np.uint8), Q.Q4_K)     # dims [256, 1]
    tensor("e.f32_vec", np.arange(16, dtype=np.float32))                   # dims [16]

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Read the file back with the package's reader to record what it says.
    r = gguf.GGUFReader(str(path))
    assert r.alignment == 64
    out_tensors = []
    for t in r.tensors:
        out_tensors.append({
            "name": t.name,
            "type": Q(t.tensor_type).name,
            "type_id": int(t.tensor_type),
            "dims": [int(d) for d in t.shape],
            "offset": int(t.data_offset - r.data_offset),
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
            "data_hex": bytes(np.asarray(t.data).tobytes()).hex(),
        })
    assert [t["name"] for t in out_tensors] == [n for n, _, _ in tensors]
    assert list(r.fields.keys())[3:] == [k for k, _ in meta], list(r.fields.keys())

    expected = {
        "source": "crates/gemma-formats/scripts/make_gguf_fixture.py",
        "gguf_py_version": getattr(gguf, "__version__", None) or _pkg_version(),
        "numpy_version": np.__version__,
        "version": 3,
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "file_size": path.stat().st_size,
        "metadata": [{"key": k, **v} for k, v in meta],
        "tensors": out_tensors,
    }
    (OUT / "pyfixture.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes) and pyfixture.json")


def _pkg_version():
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    main()
