#!/usr/bin/env python3
"""Shared helpers of scripts/serve_load.py and scripts/serve_throughput.py.

Not a program of its own: it gives both scripts the same server options and the same way to
start, reach and stop a `gemma serve`:

    --url URL        use a running server (http://HOST:PORT, with or without /v1); else start one:
    --bin PATH       the gemma binary (default: target/release/gemma of this checkout)
    --model PATH     passed as --model (default: the server's default model)
    --parallel N     passed as --parallel (default given by each script)
    --queue N        passed as --queue (default 64)
    --threads N      passed as --threads (default: the server's)
    --ctx N          passed as --ctx (default: the server's)
    --api-key KEY    the key to send (and, for a started server, to require)

A started server listens on 127.0.0.1 with --port 0; its port is read from its
`gemma serve: listening on http://HOST:PORT` line on stderr. It is stopped with SIGTERM (and
killed if it does not exit) when the script ends.

The scripts need the official `openai` package:

    python3 -m venv ~/.cache/gemma-rs/venv-openai
    ~/.cache/gemma-rs/venv-openai/bin/pip install openai==3.57.0
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "gemma"
NO_KEY = "sk-no-key-required"
LISTEN_RE = re.compile(r"gemma serve: listening on (http://\S+:\d+)")


def import_openai():
    try:
        import openai
    except ImportError:
        sys.exit("this script needs the `openai` package: python3 -m venv ~/.cache/gemma-rs/venv-openai && "
                 "~/.cache/gemma-rs/venv-openai/bin/pip install openai==3.57.0, then run it with that "
                 "venv's python")
    return openai


def add_server_args(parser, default_parallel=16, default_queue=64):
    g = parser.add_argument_group("server")
    g.add_argument("--url", help="a running server (http://HOST:PORT); without it one is started")
    g.add_argument("--bin", default=str(DEFAULT_BIN), help="the gemma binary (default: %(default)s)")
    g.add_argument("--model", help="model path for a started server (default: the default model)")
    g.add_argument("--parallel", type=int, default=default_parallel,
                   help="--parallel of a started server (default: %(default)s)")
    g.add_argument("--queue", type=int, default=default_queue,
                   help="--queue of a started server (default: %(default)s)")
    g.add_argument("--threads", type=int, help="--threads of a started server (default: the server's)")
    g.add_argument("--ctx", type=int, help="--ctx of a started server (default: the server's)")
    g.add_argument("--api-key", default=os.environ.get("GEMMA_API_KEY") or None,
                   help="Bearer key to send (a started server requires it; default: $GEMMA_API_KEY)")
    g.add_argument("--ready-timeout", type=float, default=120.0,
                   help="seconds to wait for a started server to listen (default: %(default)s)")


class Server:
    """A `gemma serve` child process; its output goes to a temporary log file."""

    def __init__(self, binary, model=None, extra_args=(), ready_timeout=120.0):
        self.cmd = [str(binary), "serve", "--host", "127.0.0.1", "--port", "0"]
        if model:
            self.cmd += ["--model", str(model)]
        self.cmd += [str(a) for a in extra_args]
        self.ready_timeout = ready_timeout
        self.log = tempfile.NamedTemporaryFile(prefix="gemma-serve-", suffix=".log", delete=False)
        self.proc = None
        self.url = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.log_text())
            if m:
                self.url = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.cmd)} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{' '.join(self.cmd)} did not listen within {self.ready_timeout} s:\n"
                           f"{self.log_tail()}")

    def stop(self, timeout=30.0):
        """SIGTERM and wait; kill when it outlives `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self):
        try:
            return Path(self.log.name).read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])


def server_args(args):
    """The extra `gemma serve` arguments named by the parsed options."""
    extra = ["--parallel", args.parallel, "--queue", args.queue]
    for flag, value in (("--threads", args.threads), ("--ctx", args.ctx), ("--api-key", args.api_key)):
        if value is not None:
            extra += [flag, value]
    return extra


@contextlib.contextmanager
def server_from_args(args):
    """Yields the server's root URL (http://HOST:PORT): --url's, or that of a server started here."""
    if args.url:
        url = args.url.rstrip("/")
        if url.endswith("/v1"):
            url = url[: -len("/v1")]
        yield url
        return
    if not Path(args.bin).exists():
        sys.exit(f"{args.bin} does not exist: build it (cargo build --release) or pass --bin or --url")
    server = Server(args.bin, args.model, server_args(args), args.ready_timeout)
    server.start()
    print(f"started {' '.join(server.cmd)} at {server.url} (log: {server.log.name})", file=sys.stderr)
    try:
        yield server.url
    finally:
        rc = server.stop()
        if rc == 0:
            Path(server.log.name).unlink(missing_ok=True)
            print("server stopped (exit 0)", file=sys.stderr)
        else:
            print(f"server stopped (exit {rc}); its log: {server.log.name}", file=sys.stderr)


def make_client(root_url, api_key=None, timeout=600.0):
    openai = import_openai()
    return openai.OpenAI(base_url=root_url + "/v1", api_key=api_key or NO_KEY, max_retries=0,
                         timeout=timeout)


def percentile(values, p):
    """The p-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt(value, unit="", digits=3):
    return "-" if value is None else f"{value:.{digits}f}{unit}"
