#!/usr/bin/env bash
# Makes (once) the Python environment in which the server tests drive `gemma serve` with the
# official `openai` client, pinned, under $GEMMA_HOME (default ~/.cache/gemma-rs), and prints
# its python. Used by .ci/run and by crates/gemma-cli/tests/serve_openai.rs.
set -euo pipefail
OPENAI_VERSION=3.57.0
home="${GEMMA_HOME:-$HOME/.cache/gemma-rs}"
venv="$home/venv-openai"
py="$venv/bin/python"
if ! "$py" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
  mkdir -p "$home"
  # One maker at a time (tests may run in parallel).
  exec 9>"$home/venv-openai.lock"
  flock 9
  if ! "$py" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
    echo "making $venv with openai==$OPENAI_VERSION" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "openai==$OPENAI_VERSION" >&2
  fi
fi
echo "$py"
