"""A plain float64 NumPy forward pass of a Gemma 3 GGUF model (text only).

Used by make_llama_reference.py as an independent cross-check of llama.cpp: the
weights are dequantized with the `gguf` package and everything after that is
computed in float64 with no activation quantization and no F16 KV cache, so the
difference to llama.cpp shows how far llama.cpp's own approximations move the
logits. Written from the Gemma 3 architecture as llama.cpp loads it:


* embeddings scaled by sqrt(n_embd); output head tied to token_embd (unless
  the file has output.weight);
* per layer: RMSNorm -> Q/K/V -> per-head RMSNorm on Q and K -> NeoX RoPE ->
  Q scaled by 1/sqrt(head_dim) -> causal softmax attention (GQA) -> output
  projection -> post-attention RMSNorm -> residual; RMSNorm -> GELU(tanh)(gate) *
  up -> down -> post-FFN RMSNorm -> residual;
* every 6th layer (il % 6 == 5) is global (RoPE base from the file); the others
  use a 512-token sliding window (query i sees keys j with i - j < window) and
  RoPE base 10000;
* GGUF norm weights already include Gemma's "+1".
"""

from __future__ import annotations

import numpy as np
import gguf

SWA_PATTERN = 6
ROPE_BASE_SWA = 10000.0


class NumpyGemma3:
    """Dequantized weights (stored float32, computed in float64) and config."""

    def __init__(self, path: str):
        r = gguf.GGUFReader(path)
        f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("tokenizer.")}
        arch = f["general.architecture"]
        if arch != "gemma3":
            raise ValueError(f"{path}: architecture {arch!r}, expected 'gemma3'")
        self.n_embd = int(f[f"{arch}.embedding_length"])
        self.n_layer = int(f[f"{arch}.block_count"])
        self.n_head = int(f[f"{arch}.attention.head_count"])
        self.n_head_kv = int(f[f"{arch}.attention.head_count_kv"])
        self.head_dim = int(f[f"{arch}.attention.key_length"])
        self.eps = float(f[f"{arch}.attention.layer_norm_rms_epsilon"])
        self.rope_base = float(f[f"{arch}.rope.freq_base"])
        self.window = int(f[f"{arch}.attention.sliding_window"])
        self.w = {}
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type)
            self.w[t.name] = np.asarray(a, dtype=np.float32)

    def _rms(self, x: np.ndarray, name: str) -> np.ndarray:
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * self.w[name]

    def _rope(self, x: np.ndarray, pos: np.ndarray, base: float) -> np.ndarray:
        half = self.head_dim // 2
        inv = base ** (-np.arange(half, dtype=np.float64) * 2.0 / self.head_dim)
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], -1)

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name].T.astype(np.float64)

    def logits(self, tokens: list[int], first_out: int) -> np.ndarray:
        """Float64 logits at positions first_out..len(tokens)-1."""
        n, hd = len(tokens), self.head_dim
        pos = np.arange(n, dtype=np.float64)
        emb = self.w["token_embd.weight"]
        x = emb[tokens].astype(np.float64) * np.sqrt(self.n_embd)
        i, j = np.arange(n)[:, None], np.arange(n)[None, :]
        group = self.n_head // self.n_head_kv
        for il in range(self.n_layer):
            p = f"blk.{il}."
            swa = il % SWA_PATTERN != SWA_PATTERN - 1
            h = self._rms(x, p + "attn_norm.weight")
            q = self._lin(h, p + "attn_q.weight").reshape(n, self.n_head, hd)
            k = self._lin(h, p + "attn_k.weight").reshape(n, self.n_head_kv, hd)
            v = self._lin(h, p + "attn_v.weight").reshape(n, self.n_head_kv, hd)
            q = self._rms(q, p + "attn_q_norm.weight")
            k = self._rms(k, p + "attn_k_norm.weight")
            base = ROPE_BASE_SWA if swa else self.rope_base
            q = self._rope(q, pos, base) / np.sqrt(hd)
            k = self._rope(k, pos, base)
            k = np.repeat(k, group, axis=1)
            v = np.repeat(v, group, axis=1)
            s = np.einsum("ihd,jhd->hij", q, k)
            masked = (j > i) | ((i - j >= self.window) if swa else np.zeros_like(j > i))
            s = np.where(masked[None], -np.inf, s)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o = np.einsum("hij,jhd->ihd", s, v).reshape(n, self.n_head * hd)
            x = x + self._rms(self._lin(o, p + "attn_output.weight"), p + "post_attention_norm.weight")
            h = self._rms(x, p + "ffn_norm.weight")
            g = self._lin(h, p + "ffn_gate.weight")
            g = 0.5 * g * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (g + 0.044715 * g**3)))
            ff = self._lin(g * self._lin(h, p + "ffn_up.weight"), p + "ffn_down.weight")
            x = x + self._rms(ff, p + "post_ffw_norm.weight")
        x = self._rms(x[first_out:], "output_norm.weight")
        head = self.w.get("output.weight", emb)
        out = np.empty((x.shape[0], head.shape[0]), dtype=np.float64)
        step = 32768
        for lo in range(0, head.shape[0], step):
            out[:, lo : lo + step] = x @ head[lo : lo + step].T.astype(np.float64)
        return out
