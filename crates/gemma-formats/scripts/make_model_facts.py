#!/usr/bin/env python3
"""Record what the `gguf` Python package reads from the real default model, and the
package's names for the keys and tensors of crates/gemma-formats/src/names.rs, as
tests/data/gemma3_270m_facts.json (small: no weights, only a few bytes per tensor).

Usage (from the repository root):
    /root/.cache/gemma-rs/venv-ref/bin/python crates/gemma-formats/scripts/make_model_facts.py \
        [~/.cache/gemma-rs/models/gemma-3-270m-q4_k_m.gguf]
"""

import hashlib
import json
import os
import struct
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFValueType as T, Keys, MODEL_TENSOR, TENSOR_NAMES

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gemma3_270m_facts.json"
HOME = Path(os.environ.get("GEMMA_HOME") or Path.home() / ".cache" / "gemma-rs")
DEFAULT = HOME / "models" / "gemma-3-270m-q4_k_m.gguf"


def scalar(vtype, raw):
    if vtype == T.STRING:
        return {"value": bytes(raw).decode("utf-8")}
    v = raw.item() if hasattr(raw, "item") else raw
    if vtype == T.FLOAT32:
        return {"bits": struct.unpack("<I", struct.pack("<f", v))[0]}
    if vtype == T.FLOAT64:
        return {"bits": struct.unpack("<Q", struct.pack("<d", v))[0]}
    if vtype == T.BOOL:
        return {"value": bool(v)}
    return {"value": int(v)}


def canonical(item):
    """Bytes hashed per array item: strings as u64 LE byte length + UTF-8 bytes,
    floats as their bit pattern (u64 LE), integers and bools as i64 LE."""
    if "bits" in item:
        return struct.pack("<Q", item["bits"])
    v = item["value"]
    if isinstance(v, str):
        b = v.encode("utf-8")
        return struct.pack("<Q", len(b)) + b
    return struct.pack("<q", int(v))


def field_fact(f):
    types = [T(t) for t in f.types]
    name = lambda t: t.name.lower()  # UINT8 -> uint8, FLOAT32 -> float32, ...
    if types[0] != T.ARRAY:
        return {"type": name(types[0]), **scalar(types[0], f.parts[f.data[0]])}
    assert len(types) == 2, "nested arrays not expected in the model"
    items = [scalar(types[1], f.parts[i]) for i in f.data]
    h = hashlib.sha256()
    for it in items:
        h.update(canonical(it))
    return {
        "type": "array",
        "elem_type": name(types[1]),
        "len": len(items),
        "first": items[:5],
        "last": items[-1],
        # sha256 over canonical(item) for every item, in order.
        "items_sha256": h.hexdigest(),
    }


def names_table():
    arch = "gemma3"
    k = lambda tpl: tpl.format(arch=arch)
    t = lambda mt: TENSOR_NAMES[mt].format(bid=0)
    return {
        "general::ARCHITECTURE": Keys.General.ARCHITECTURE,
        "general::TYPE": Keys.General.TYPE,
        "general::NAME": Keys.General.NAME,
        "general::BASENAME": Keys.General.BASENAME,
        "general::SIZE_LABEL": Keys.General.SIZE_LABEL,
        "general::LICENSE": Keys.General.LICENSE,
        "general::ALIGNMENT": Keys.General.ALIGNMENT,
        "general::FILE_TYPE": Keys.General.FILE_TYPE,
        "general::QUANTIZATION_VERSION": Keys.General.QUANTIZATION_VERSION,
        "arch::CONTEXT_LENGTH": k(Keys.LLM.CONTEXT_LENGTH),
        "arch::EMBEDDING_LENGTH": k(Keys.LLM.EMBEDDING_LENGTH),
        "arch::BLOCK_COUNT": k(Keys.LLM.BLOCK_COUNT),
        "arch::FEED_FORWARD_LENGTH": k(Keys.LLM.FEED_FORWARD_LENGTH),
        "arch::HEAD_COUNT": k(Keys.Attention.HEAD_COUNT),
        "arch::HEAD_COUNT_KV": k(Keys.Attention.HEAD_COUNT_KV),
        "arch::KEY_LENGTH": k(Keys.Attention.KEY_LENGTH),
        "arch::VALUE_LENGTH": k(Keys.Attention.VALUE_LENGTH),
        "arch::LAYER_NORM_RMS_EPSILON": k(Keys.Attention.LAYERNORM_RMS_EPS),
        "arch::SLIDING_WINDOW": k(Keys.Attention.SLIDING_WINDOW),
        "arch::SLIDING_WINDOW_PATTERN": k(Keys.Attention.SLIDING_WINDOW_PATTERN),
        "arch::ROPE_FREQ_BASE": k(Keys.Rope.FREQ_BASE),
        "arch::ROPE_FREQ_BASE_SWA": k(Keys.Rope.FREQ_BASE_SWA),
        "arch::ROPE_SCALING_TYPE": k(Keys.Rope.SCALING_TYPE),
        "arch::ROPE_SCALING_FACTOR": k(Keys.Rope.SCALING_FACTOR),
        "arch::ATTN_LOGIT_SOFTCAPPING": k(Keys.LLM.ATTN_LOGIT_SOFTCAPPING),
        "arch::FINAL_LOGIT_SOFTCAPPING": k(Keys.LLM.FINAL_LOGIT_SOFTCAPPING),
        "tokenizer::MODEL": Keys.Tokenizer.MODEL,
        "tokenizer::PRE": Keys.Tokenizer.PRE,
        "tokenizer::TOKENS": Keys.Tokenizer.LIST,
        "tokenizer::SCORES": Keys.Tokenizer.SCORES,
        "tokenizer::TOKEN_TYPE": Keys.Tokenizer.TOKEN_TYPE,
        "tokenizer::MERGES": Keys.Tokenizer.MERGES,
        "tokenizer::BOS_ID": Keys.Tokenizer.BOS_ID,
        "tokenizer::EOS_ID": Keys.Tokenizer.EOS_ID,
        "tokenizer::EOT_ID": Keys.Tokenizer.EOT_ID,
        "tokenizer::EOM_ID": Keys.Tokenizer.EOM_ID,
        "tokenizer::UNKNOWN_ID": Keys.Tokenizer.UNK_ID,
        "tokenizer::PADDING_ID": Keys.Tokenizer.PAD_ID,
        "tokenizer::ADD_BOS": Keys.Tokenizer.ADD_BOS,
        "tokenizer::ADD_EOS": Keys.Tokenizer.ADD_EOS,
        "tokenizer::ADD_SEP": Keys.Tokenizer.ADD_SEP,
        "tokenizer::ADD_SPACE_PREFIX": Keys.Tokenizer.ADD_PREFIX,
        "tokenizer::CHAT_TEMPLATE": Keys.Tokenizer.CHAT_TEMPLATE,
        # Tensors: global names, and block 0 names (our suffixes with blk(0, ..)).
        "tensor::TOKEN_EMBD": t(MODEL_TENSOR.TOKEN_EMBD) + ".weight",
        "tensor::OUTPUT_NORM": t(MODEL_TENSOR.OUTPUT_NORM) + ".weight",
        "tensor::OUTPUT": t(MODEL_TENSOR.OUTPUT) + ".weight",
        "blk0::ATTN_NORM": t(MODEL_TENSOR.ATTN_NORM) + ".weight",
        "blk0::ATTN_Q": t(MODEL_TENSOR.ATTN_Q) + ".weight",
        "blk0::ATTN_K": t(MODEL_TENSOR.ATTN_K) + ".weight",
        "blk0::ATTN_V": t(MODEL_TENSOR.ATTN_V) + ".weight",
        "blk0::ATTN_OUTPUT": t(MODEL_TENSOR.ATTN_OUT) + ".weight",
        "blk0::ATTN_Q_NORM": t(MODEL_TENSOR.ATTN_Q_NORM) + ".weight",
        "blk0::ATTN_K_NORM": t(MODEL_TENSOR.ATTN_K_NORM) + ".weight",
        "blk0::POST_ATTENTION_NORM": t(MODEL_TENSOR.ATTN_POST_NORM) + ".weight",
        "blk0::FFN_NORM": t(MODEL_TENSOR.FFN_PRE_NORM) + ".weight",
        "blk0::FFN_GATE": t(MODEL_TENSOR.FFN_GATE) + ".weight",
        "blk0::FFN_UP": t(MODEL_TENSOR.FFN_UP) + ".weight",
        "blk0::FFN_DOWN": t(MODEL_TENSOR.FFN_DOWN) + ".weight",
        "blk0::POST_FFW_NORM": t(MODEL_TENSOR.FFN_POST_NORM) + ".weight",
    }


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    r = gguf.GGUFReader(str(path))
    metadata = []
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue  # header pseudo-fields of the Python reader
        metadata.append({"key": key, **field_fact(f)})
    tensors = []
    for t in r.tensors:
        data = np.asarray(t.data).tobytes()
        assert len(data) == t.n_bytes
        tensors.append({
            "name": t.name,
            "type": gguf.GGMLQuantizationType(t.tensor_type).name,
            "dims": [int(d) for d in t.shape],
            "offset": int(t.data_offset - r.data_offset),
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
            "head_hex": data[:16].hex(),
            "tail_hex": data[-16:].hex(),
        })
    facts = {
        "source": "crates/gemma-formats/scripts/make_model_facts.py",
        "model_file": path.name,
        "gguf_py_version": version("gguf"),
        "numpy_version": np.__version__,
        "version": int(r.fields["GGUF.version"].parts[-1][0]),
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "file_size": path.stat().st_size,
        "metadata": metadata,
        "tensors": tensors,
        "names": names_table(),
    }
    OUT.write_text(json.dumps(facts, indent=0, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {len(metadata)} keys, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
