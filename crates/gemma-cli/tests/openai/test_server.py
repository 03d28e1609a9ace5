#!/usr/bin/env python3
"""End-to-end tests of `gemma serve`, driven by the official `openai` Python client.

Every test starts real `gemma serve` processes (`--port 0 --threads 2`) and talks to them over
loopback only: the OpenAI routes through `openai.OpenAI`, the other routes (/tokenize,
/detokenize, /health, /metrics) through urllib. Generations are short (mostly <= 32 tokens) so
that the suite finishes in a few minutes on two cores with the default 270M model.

Setup (once):

    python3 -m venv ~/.cache/gemma-rs/venv-openai
    ~/.cache/gemma-rs/venv-openai/bin/pip install openai==3.57.0

Run (from the repository root, after `cargo build --release`):

    GEMMA_BIN=target/release/gemma ~/.cache/gemma-rs/venv-openai/bin/python \\
        crates/gemma-cli/tests/openai/test_server.py [-v] [-k PATTERN] [Class.test_name ...]

Environment:
    GEMMA_BIN    the `gemma` binary (default: target/release/gemma of this checkout)
    GEMMA_MODEL  a model path given to every server and `gemma run` as --model (default: the
                 default model)
    GEMMA_KEEP_LOGS  set to keep the servers' log files (they are kept anyway when a test fails;
                 their paths are in the failure output)

It prints a closing line `openai: N passed, N failed, N skipped` and exits non-zero on any
failure. On a failing test the tail of each involved server's log is printed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

try:
    import openai
except ImportError:  # pragma: no cover - depends on the environment
    sys.stderr.write(
        "test_server.py needs the `openai` package: python3 -m venv ~/.cache/gemma-rs/venv-openai && "
        "~/.cache/gemma-rs/venv-openai/bin/pip install openai==3.57.0, then run it with that venv's python\n"
    )
    raise

REPO_ROOT = Path(__file__).resolve().parents[4]
GEMMA_BIN = os.environ.get("GEMMA_BIN") or str(REPO_ROOT / "target" / "release" / "gemma")
GEMMA_MODEL = os.environ.get("GEMMA_MODEL") or None

MODEL = "gemma-test"  # the server accepts any model name
READY_TIMEOUT_S = 120
CLIENT_TIMEOUT_S = 120
NO_KEY = "sk-no-key-required"  # the client insists on some key; a server without --api-key ignores it

PROMPT_FRANCE = "The capital of France is"
PROMPT_STORY = "Once upon a time"
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name three colors."},
]

_LOG_FILES = []  # every server log written by this run, removed in tearDownModule unless a test failed
_ANY_FAILURE = []
_LISTEN_RE = re.compile(r"gemma serve: listening on http://(\S+):(\d+)")


def model_args():
    return ["--model", GEMMA_MODEL] if GEMMA_MODEL else []


def run_cli(*args, timeout=120):
    """Run `gemma ARGS...` (with --model when GEMMA_MODEL is set) and return its stdout."""
    cmd = [GEMMA_BIN, args[0], *model_args(), *args[1:]]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode("utf-8")


# ---------------------------------------------------------------------------------------------
# The server process


class GemmaServer:
    """One `gemma serve --port 0 --threads 2 [--model ...] EXTRA...` process.

    Its stdout and stderr go to a temporary log file, which is polled for the
    `gemma serve: listening on http://HOST:PORT` line.
    """

    def __init__(self, *extra_args):
        self.extra_args = [str(a) for a in extra_args]
        self.proc = None
        self.port = None
        self.returncode = None
        log = tempfile.NamedTemporaryFile(prefix="gemma-serve-", suffix=".log", delete=False)
        self.log_path = log.name  # printed in failure diagnostics
        self._log = log
        _LOG_FILES.append(self.log_path)

    @property
    def cmd(self):
        return [GEMMA_BIN, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "2",
                *model_args(), *self.extra_args]

    def start(self, timeout=READY_TIMEOUT_S):
        env = {k: v for k, v in os.environ.items() if k != "GEMMA_API_KEY"}  # keys only as a test asks
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = _LISTEN_RE.search(self.log_text())
            if m:
                self.port = int(m.group(2))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.describe()} exited with {self.proc.returncode} before "
                                   f"listening; log:\n{self.log_tail()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.describe()} printed no 'listening on' line in {timeout} s; "
                           f"log:\n{self.log_tail()}")

    def describe(self):
        return "`" + " ".join(self.cmd) + "`"

    @property
    def root(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key=NO_KEY, **kwargs):
        return openai.OpenAI(base_url=self.root + "/v1", api_key=api_key, max_retries=0,
                             timeout=CLIENT_TIMEOUT_S, **kwargs)

    def terminate(self):
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=30):
        """SIGTERM, then wait; returns the exit code (killing it if it outlives `timeout`)."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.proc is not None:
            self.returncode = self.proc.returncode
        if not self._log.closed:
            self._log.close()

    def log_text(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Plain HTTP for the routes outside /v1


def http(server, method, path, body=None, api_key=None, raw=None, timeout=60):
    """Returns (status, content type, parsed JSON or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.root + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if api_key is not None:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, ctype, payload = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        status, ctype, payload = err.code, err.headers.get("Content-Type", ""), err.read()
    text = payload.decode("utf-8", errors="replace")
    if "json" in ctype:
        try:
            return status, ctype, json.loads(text)
        except ValueError:
            pass
    return status, ctype, text


def metrics(server, api_key=None):
    """Sums each metric of /metrics over its label sets: {name: value} (a series name keeps `_bucket` etc.)."""
    status, _, text = http(server, "GET", "/metrics", api_key=api_key)
    if status != 200:
        raise AssertionError(f"/metrics answered {status}: {text}")
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out, text


def health_status(server):
    """The status of GET /health, or None when nothing answers (the server has gone)."""
    try:
        return http(server, "GET", "/health", timeout=5)[0]
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def wait_for(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Test bases


class ServerTestCase(unittest.TestCase):
    """Prints the log tails of the servers a failing test used; `start_server` cleans up after itself."""

    maxDiff = 4000
    _class_servers = []

    def run(self, result=None):
        self._servers = []
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            _ANY_FAILURE.append(self.id())
            for srv in list(type(self)._class_servers) + self._servers:
                sys.stderr.write(f"\n--- log of {srv.describe()} (exit {srv.returncode}, {srv.log_path}) ---\n"
                                 f"{srv.log_tail()}\n--- end of log ---\n")
        return result

    def start_server(self, *args):
        srv = GemmaServer(*args)
        self._servers.append(srv)
        self.addCleanup(srv.kill)
        return srv.start()

    @classmethod
    def start_class_server(cls, *args):
        srv = GemmaServer(*args)
        cls._class_servers = [srv]
        try:
            srv.start()
        except BaseException:
            srv.kill()
            raise
        cls.addClassCleanup(srv.kill)
        return srv

    # -- assertions shared by several tests

    def assert_usage(self, usage, max_tokens=None, finish_reason=None):
        self.assertIsNotNone(usage, "no usage in the response")
        self.assertGreater(usage.prompt_tokens, 0)
        self.assertGreaterEqual(usage.completion_tokens, 0)
        self.assertEqual(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens)
        if max_tokens is not None:
            self.assertLessEqual(usage.completion_tokens, max_tokens)
            if finish_reason == "length":
                self.assertEqual(usage.completion_tokens, max_tokens,
                                 "finish_reason 'length' but fewer tokens than max_tokens")

    def assert_api_error_body(self, err):
        self.assertIsInstance(err.body, dict, f"error body is not an object: {err.body!r}")
        self.assertIsInstance(err.body.get("message"), str, f"error without message: {err.body!r}")
        self.assertIn("type", err.body, f"error without type: {err.body!r}")

    def assert_http_error(self, status, body, expected):
        self.assertEqual(status, expected, body)
        self.assertIsInstance(body, dict, f"error body is not JSON: {body!r}")
        self.assertIsInstance(body.get("error"), dict, body)
        self.assertIsInstance(body["error"].get("message"), str, body)


def usage_tuple(u):
    return (u.prompt_tokens, u.completion_tokens, u.total_tokens)


def completion_text(client, prompt, max_tokens=16, **kwargs):
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, **kwargs)
    return r.choices[0].text


def chat_text(client, messages, max_tokens=16, **kwargs):
    r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens, **kwargs)
    return r.choices[0].message.content


def pick_stop_string(text, tokens=None):
    """A 2-4 character substring of `text` from about its middle that first occurs there.

    When the token pieces are known (and join to `text`), prefer one that straddles a token
    boundary. Returns (offset, stop) or None.
    """
    n = len(text)
    boundaries = set()
    if tokens and "".join(tokens) == text:
        pos = 0
        for t in tokens[:-1]:
            pos += len(t)
            boundaries.add(pos)
    starts = list(range(n // 2, n - 1)) + list(range(n // 2 - 1, 0, -1))
    for want_straddle in ([True, False] if boundaries else [False]):
        for i in starts:
            for length in (3, 4, 2):
                s = text[i:i + length]
                if len(s) != length or not s.strip() or text.find(s) != i:
                    continue
                if want_straddle and not any(i < b < i + length for b in boundaries):
                    continue
                return i, s
    return None


# ---------------------------------------------------------------------------------------------
# One shared default server: generation, sampling, logprobs, auxiliary routes, 400/404


class TestGeneration(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server()
        cls.client = cls.server.client()

    # -- completions

    def test_completion_greedy_matches_cli(self):
        r = self.client.completions.create(model=MODEL, prompt=PROMPT_FRANCE, max_tokens=16,
                                           temperature=0)
        expected = run_cli("run", "-n", "16", "--temperature", "0", "--threads", "2", PROMPT_FRANCE)
        self.assertEqual(r.object, "text_completion")
        self.assertTrue(r.id, "empty id")
        self.assertEqual(len(r.choices), 1)
        choice = r.choices[0]
        self.assertEqual(choice.index, 0)
        self.assertEqual(choice.text, expected, "server greedy text differs from `gemma run --temperature 0`")
        self.assertIn(choice.finish_reason, ("stop", "length"))
        self.assertIsNone(choice.logprobs)
        self.assert_usage(r.usage, max_tokens=16, finish_reason=choice.finish_reason)

    def test_completion_stream_matches_nonstream(self):
        kwargs = dict(model=MODEL, prompt=PROMPT_STORY, max_tokens=24, temperature=0)
        full = self.client.completions.create(**kwargs)
        chunks = list(self.client.completions.create(**kwargs, stream=True))
        self.assertTrue(chunks, "no chunks")
        for ch in chunks:
            self.assertEqual(ch.object, "text_completion")
        with_choices = [ch for ch in chunks if ch.choices]
        text = "".join(ch.choices[0].text or "" for ch in with_choices)
        self.assertEqual(text, full.choices[0].text)
        finishing = [i for i, ch in enumerate(with_choices) if ch.choices[0].finish_reason]
        self.assertEqual(finishing, [len(with_choices) - 1],
                         "expected exactly one finish_reason, on the last chunk")
        self.assertEqual(with_choices[-1].choices[0].finish_reason, full.choices[0].finish_reason)

    def test_multiple_prompts(self):
        prompts = [PROMPT_FRANCE, PROMPT_STORY]
        solo = [self.client.completions.create(model=MODEL, prompt=p, max_tokens=12, temperature=0)
                for p in prompts]
        both = self.client.completions.create(model=MODEL, prompt=prompts, max_tokens=12, temperature=0)
        self.assertEqual(len(both.choices), 2)
        by_index = {c.index: c for c in both.choices}
        self.assertEqual(sorted(by_index), [0, 1])
        for i, s in enumerate(solo):
            self.assertEqual(by_index[i].text, s.choices[0].text, f"prompt {i}")
            self.assertEqual(by_index[i].finish_reason, s.choices[0].finish_reason, f"prompt {i}")
        self.assertEqual(both.usage.prompt_tokens, sum(s.usage.prompt_tokens for s in solo))
        self.assertEqual(both.usage.completion_tokens, sum(s.usage.completion_tokens for s in solo))
        self.assert_usage(both.usage)

    def test_token_id_prompts(self):
        # Token ids are used as given (as `gemma run --tokens`); /tokenize with add_special adds BOS
        # the way a text prompt gets it, so both must generate the same text.
        ids = []
        for p in (PROMPT_FRANCE, PROMPT_STORY):
            status, _, body = http(self.server, "POST", "/tokenize", {"content": p, "add_special": True})
            self.assertEqual(status, 200, body)
            ids.append(body["tokens"])
        texts = [completion_text(self.client, p, 12, temperature=0) for p in (PROMPT_FRANCE, PROMPT_STORY)]
        one = self.client.completions.create(model=MODEL, prompt=ids[0], max_tokens=12, temperature=0)
        self.assertEqual(one.choices[0].text, texts[0])
        self.assertEqual(one.usage.prompt_tokens, len(ids[0]))
        two = self.client.completions.create(model=MODEL, prompt=ids, max_tokens=12, temperature=0)
        self.assertEqual(sorted((c.index, c.text) for c in two.choices), list(enumerate(texts)))

    # -- chat

    def test_chat_greedy_stream_and_usage(self):
        kwargs = dict(model=MODEL, messages=CHAT_MESSAGES, max_tokens=24, temperature=0)
        r = self.client.chat.completions.create(**kwargs)
        self.assertEqual(r.object, "chat.completion")
        self.assertTrue(r.id.startswith("chatcmpl-"), r.id)
        self.assertIsInstance(r.created, int)
        self.assertEqual(len(r.choices), 1)
        choice = r.choices[0]
        self.assertEqual(choice.index, 0)
        self.assertEqual(choice.message.role, "assistant")
        self.assertIsInstance(choice.message.content, str)
        self.assertIn(choice.finish_reason, ("stop", "length"))
        self.assert_usage(r.usage, max_tokens=24, finish_reason=choice.finish_reason)

        for include_usage in (False, True):
            with self.subTest(include_usage=include_usage):
                extra = {"stream_options": {"include_usage": True}} if include_usage else {}
                chunks = list(self.client.chat.completions.create(**kwargs, stream=True, **extra))
                self.assertTrue(chunks, "no chunks")
                for ch in chunks:
                    self.assertEqual(ch.object, "chat.completion.chunk")
                    self.assertEqual(ch.id, chunks[0].id, "chunk ids differ")
                self.assertTrue(chunks[0].id.startswith("chatcmpl-"), chunks[0].id)
                with_choices = [ch for ch in chunks if ch.choices]
                self.assertEqual(with_choices[0].choices[0].delta.role, "assistant")
                content = "".join(ch.choices[0].delta.content or "" for ch in with_choices)
                self.assertEqual(content, choice.message.content)
                finishing = [i for i, ch in enumerate(with_choices) if ch.choices[0].finish_reason]
                self.assertEqual(finishing, [len(with_choices) - 1],
                                 "expected exactly one finish_reason, on the last chunk with choices")
                self.assertEqual(with_choices[-1].choices[0].finish_reason, choice.finish_reason)
                if include_usage:
                    last = chunks[-1]
                    self.assertEqual(last.choices, [], "the usage chunk must have no choices")
                    self.assertIsNotNone(last.usage, "no usage in the final chunk")
                    self.assertEqual(usage_tuple(last.usage), usage_tuple(r.usage))
                    for ch in chunks[:-1]:
                        self.assertIsNone(ch.usage, "usage before the final chunk")
                else:
                    self.assertIs(chunks[-1], with_choices[-1],
                                  "a chunk without choices although include_usage was not asked")

    def test_chat_content_parts_and_roles(self):
        plain = chat_text(self.client, [{"role": "user", "content": "Hello there"}], 8, temperature=0)
        parts = chat_text(self.client, [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
                          8, temperature=0)
        self.assertEqual(parts, plain, "a single text part must act as the same string content")
        r = self.client.chat.completions.create(
            model=MODEL, max_tokens=4, temperature=0,
            messages=[{"role": "developer", "content": "Be brief."},
                      {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"},
                      {"role": "user", "content": "How are you?"}])
        self.assertEqual(r.choices[0].message.role, "assistant")
        self.assert_usage(r.usage, max_tokens=4, finish_reason=r.choices[0].finish_reason)

    # -- stop strings

    def test_stop_strings(self):
        full, stop = None, None
        for prompt in (PROMPT_STORY, PROMPT_FRANCE, "The quick brown fox"):
            r = self.client.completions.create(model=MODEL, prompt=prompt, max_tokens=32, temperature=0,
                                               logprobs=1)
            text = r.choices[0].text
            tokens = r.choices[0].logprobs.tokens if r.choices[0].logprobs else None
            picked = pick_stop_string(text, tokens) if len(text) >= 12 else None
            if picked:
                full, stop = (prompt, text), picked
                break
        self.assertIsNotNone(stop, "no prompt gave a greedy text long enough to pick a stop string from")
        prompt, text = full
        offset, s = stop
        expected = text[:offset]
        msg = f"stop={s!r} at {offset} in {text!r}"

        r = self.client.completions.create(model=MODEL, prompt=prompt, max_tokens=32, temperature=0,
                                           stop=["never-occurs-zq", s])
        self.assertEqual(r.choices[0].text, expected, msg)
        self.assertEqual(r.choices[0].finish_reason, "stop", msg)
        self.assertLess(r.usage.completion_tokens, 32, msg)

        chunks = list(self.client.completions.create(model=MODEL, prompt=prompt, max_tokens=32,
                                                     temperature=0, stop=s, stream=True))
        pieces = [ch.choices[0].text or "" for ch in chunks if ch.choices]
        joined = "".join(pieces)
        self.assertEqual(joined, expected, msg)
        self.assertNotIn(s, joined, msg)
        finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        self.assertEqual(finish, ["stop"], msg)

    # -- sampling

    def test_seed_reproducibility(self):
        sampling = dict(temperature=1.0, top_p=0.95, seed=1234, max_tokens=24)
        a = completion_text(self.client, PROMPT_STORY, **sampling)
        b = completion_text(self.client, PROMPT_STORY, **sampling)
        self.assertEqual(a, b, "completion: same seed, different text")
        messages = [{"role": "user", "content": "Tell me a story."}]
        a = chat_text(self.client, messages, **sampling)
        b = chat_text(self.client, messages, **sampling)
        self.assertEqual(a, b, "chat: same seed, different text")

    def test_seeded_text_does_not_depend_on_concurrent_requests(self):
        # The same seeded request alone, then while three other requests share its batches
        # (different prompts and lengths, so its prompt is chunked and batched differently).
        sampling = dict(temperature=1.0, top_p=0.95, seed=99, max_tokens=24)
        alone = completion_text(self.client, PROMPT_STORY, **sampling)
        results = {}

        def run(name, prompt, n):
            results[name] = completion_text(self.client, prompt, n, temperature=0.9, seed=len(name))

        others = [threading.Thread(target=run, args=(f"other{i}", p, n)) for i, (p, n) in
                  enumerate([(PROMPT_FRANCE, 30), ("Water boils at", 20), ("In the beginning " * 8, 28)])]
        for t in others:
            t.start()
        together = completion_text(self.client, PROMPT_STORY, **sampling)
        for t in others:
            t.join()
        self.assertEqual(len(results), 3)
        self.assertEqual(together, alone, "a seeded request's text changed when others ran beside it")

    def test_seeds_differ(self):
        texts = {completion_text(self.client, PROMPT_STORY, 24, temperature=1.0, top_p=0.95, seed=seed)
                 for seed in (1, 2, 3, 4)}
        self.assertGreaterEqual(len(texts), 2, f"seeds 1..4 gave one text: {texts}")

    def test_llama_cpp_extras(self):
        greedy = completion_text(self.client, PROMPT_FRANCE, 16, temperature=0)
        top_k1 = completion_text(self.client, PROMPT_FRANCE, 16, temperature=1.0, seed=7,
                                 extra_body={"top_k": 1})
        self.assertEqual(top_k1, greedy, "top_k=1 at temperature 1 must be greedy")
        min_p1 = completion_text(self.client, PROMPT_FRANCE, 16, temperature=1.0, seed=8,
                                 extra_body={"min_p": 1.0})
        self.assertEqual(min_p1, greedy, "min_p=1 at temperature 1 must be greedy")
        r = self.client.chat.completions.create(
            model=MODEL, messages=CHAT_MESSAGES, max_tokens=8, temperature=0.8, seed=3,
            extra_body={"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1, "repeat_last_n": 64})
        self.assertIsInstance(r.choices[0].message.content, str)

    def test_penalties_and_logit_bias_match_cli(self):
        # temperature 0 after penalties/bias is the argmax of the adjusted logits: `gemma run`
        # with the same options is the reference.
        common = ["run", "-n", "16", "--temperature", "0", "--threads", "2", "--repeat-last-n", "64"]
        with self.subTest("repeat_penalty"):
            got = completion_text(self.client, PROMPT_STORY, 16, temperature=0,
                                  extra_body={"repeat_penalty": 1.3, "repeat_last_n": 64})
            self.assertEqual(got, run_cli(*common, "--repeat-penalty", "1.3", PROMPT_STORY))
        with self.subTest("presence/frequency"):
            got = completion_text(self.client, PROMPT_STORY, 16, temperature=0, presence_penalty=0.5,
                                  frequency_penalty=0.5, extra_body={"repeat_last_n": 64})
            self.assertEqual(got, run_cli(*common, "--presence-penalty", "0.5", "--frequency-penalty",
                                          "0.5", PROMPT_STORY))
        with self.subTest("logit_bias"):
            out = run_cli("run", "-n", "16", "--temperature", "0", "--threads", "2", "--print-ids",
                          PROMPT_FRANCE)
            first_id = json.loads(out.strip().splitlines()[-1])[0]
            got = completion_text(self.client, PROMPT_FRANCE, 16, temperature=0,
                                  logit_bias={str(first_id): -100})
            expected = run_cli("run", "-n", "16", "--temperature", "0", "--threads", "2",
                               "--logit-bias", f"{first_id}-100", PROMPT_FRANCE)
            self.assertEqual(got, expected)
            self.assertNotEqual(got, completion_text(self.client, PROMPT_FRANCE, 16, temperature=0),
                                "banning the greedy first token changed nothing")

    # -- logprobs

    def test_chat_logprobs(self):
        r = self.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Write a short poem about the sea."}],
            max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
        choice = r.choices[0]
        self.assertIsNotNone(choice.logprobs, "logprobs asked, none given")
        entries = choice.logprobs.content
        self.assertEqual(len(entries), r.usage.completion_tokens)
        for i, e in enumerate(entries):
            tops = e.top_logprobs
            self.assertEqual(len(tops), 3, f"entry {i}")
            values = [t.logprob for t in tops]
            self.assertEqual(values, sorted(values, reverse=True), f"entry {i}: not sorted")
            self.assertLessEqual(e.logprob, 0.0)
            self.assertTrue(all(v <= 0.0 for v in values), f"entry {i}: {values}")
            self.assertLessEqual(sum(2.718281828459045 ** v for v in values), 1.0 + 1e-4, f"entry {i}")
            self.assertAlmostEqual(e.logprob, tops[0].logprob, delta=1e-5, msg=f"entry {i}: not greedy")
            self.assertEqual(e.token, tops[0].token, f"entry {i}")
            if e.bytes is not None:
                self.assertTrue(all(isinstance(b, int) and 0 <= b < 256 for b in e.bytes), e.bytes)
        plain = self.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0)
        self.assertIsNone(plain.choices[0].logprobs)

    def test_completion_logprobs_generated(self):
        r = self.client.completions.create(model=MODEL, prompt=PROMPT_FRANCE, max_tokens=8,
                                           temperature=0, logprobs=2)
        choice = r.choices[0]
        lp = choice.logprobs
        self.assertIsNotNone(lp)
        n = r.usage.completion_tokens
        self.assertEqual(len(lp.tokens), n)
        self.assertEqual(len(lp.token_logprobs), n)
        self.assertEqual(len(lp.top_logprobs), n)
        self.assertEqual(len(lp.text_offset), n)
        for i in range(n):
            top = lp.top_logprobs[i]
            self.assertTrue(1 <= len(top) <= 3, f"position {i}: {top}")
            self.assertLessEqual(lp.token_logprobs[i], 0.0)
            self.assertAlmostEqual(lp.token_logprobs[i], max(top.values()), delta=1e-5,
                                   msg=f"position {i}: greedy token is not the most likely")
            self.assertIn(lp.tokens[i], top, f"position {i}")
        if choice.finish_reason == "length":
            self.assertEqual("".join(lp.tokens), choice.text)

    def test_completion_echo_logprobs_scoring(self):
        prompt = "The capital of France is Paris."
        r = self.client.completions.create(model=MODEL, prompt=prompt, max_tokens=0, echo=True,
                                           logprobs=2, temperature=0)
        choice = r.choices[0]
        self.assertEqual(choice.text, prompt)
        self.assertEqual(r.usage.completion_tokens, 0)
        lp = choice.logprobs
        self.assertIsNotNone(lp)
        self.assertEqual(len(lp.tokens), r.usage.prompt_tokens)
        self.assertEqual(len(lp.token_logprobs), len(lp.tokens))
        self.assertEqual(len(lp.text_offset), len(lp.tokens))
        self.assertEqual(len(lp.top_logprobs), len(lp.tokens))
        self.assertIsNone(lp.token_logprobs[0])
        for i, v in enumerate(lp.token_logprobs[1:], start=1):
            self.assertIsInstance(v, float, f"position {i}")
            self.assertLessEqual(v, 0.0, f"position {i}")
            top = lp.top_logprobs[i]
            self.assertTrue(top and len(top) <= 3, f"position {i}: {top}")
            self.assertGreaterEqual(max(top.values()) + 1e-5, v, f"position {i}")
        self.assertEqual(lp.text_offset, sorted(lp.text_offset), "text_offset decreases")
        self.assertLessEqual(lp.text_offset[-1], len(choice.text))

    # -- other routes

    def test_models_list(self):
        models = self.client.models.list()
        data = list(models.data)
        self.assertEqual(len(data), 1, data)
        m = data[0]
        self.assertEqual(m.object, "model")
        self.assertEqual(m.owned_by, "gemma-rs")
        self.assertIsInstance(m.created, int)
        if GEMMA_MODEL:  # the file or folder name, as given or with links resolved
            self.assertIn(m.id, (Path(GEMMA_MODEL).name, Path(GEMMA_MODEL).resolve().name))
        else:
            self.assertTrue(m.id.endswith(".gguf"), m.id)

    def test_tokenize_detokenize(self):
        text = "Hello world"
        status, _, body = http(self.server, "POST", "/tokenize", {"content": text})
        self.assertEqual(status, 200, body)
        ids = body["tokens"]
        self.assertTrue(ids and all(isinstance(i, int) for i in ids), body)
        self.assertEqual(ids, json.loads(run_cli("tokenize", "--json", "--no-bos", text)))
        status, _, body = http(self.server, "POST", "/tokenize", {"content": text, "add_special": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["tokens"], json.loads(run_cli("tokenize", "--json", text)))
        status, _, body = http(self.server, "POST", "/tokenize", {"content": text, "with_pieces": True})
        self.assertEqual(status, 200, body)
        self.assertEqual([t["id"] for t in body["tokens"]], ids)
        self.assertEqual("".join(t["piece"] for t in body["tokens"]), text)
        status, _, body = http(self.server, "POST", "/detokenize", {"tokens": ids})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["content"], text)

    def test_health_and_metrics(self):
        status, _, body = http(self.server, "GET", "/health")
        self.assertEqual((status, body), (200, {"status": "ok"}))
        before, _ = metrics(self.server)
        r = self.client.completions.create(model=MODEL, prompt=PROMPT_FRANCE, max_tokens=4, temperature=0)
        after, text = metrics(self.server)
        for name in ("gemma_requests_total", "gemma_prompt_tokens_total", "gemma_generated_tokens_total",
                     "gemma_queue_length", "gemma_active_sequences"):
            self.assertIn(name, after, f"/metrics lacks {name}")
        self.assertGreaterEqual(after["gemma_requests_total"], before.get("gemma_requests_total", 0) + 1)
        self.assertGreaterEqual(after["gemma_generated_tokens_total"] - before.get("gemma_generated_tokens_total", 0),
                                r.usage.completion_tokens)
        self.assertGreaterEqual(after["gemma_prompt_tokens_total"] - before.get("gemma_prompt_tokens_total", 0),
                                r.usage.prompt_tokens)
        self.assertRegex(text, r'(?m)^gemma_time_to_first_token_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} ')
        self.assertRegex(text, r'(?m)^gemma_request_duration_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} ')

    def test_client_disconnect_cancels(self):
        stream = self.client.completions.create(model=MODEL, prompt=PROMPT_STORY, max_tokens=2000,
                                                temperature=0, stream=True)
        try:
            it = iter(stream)
            for _ in range(2):
                next(it)
            active, _ = metrics(self.server)
            self.assertGreaterEqual(active.get("gemma_active_sequences", 0), 1, "no active sequence while streaming")
        finally:
            stream.close()
        idle = wait_for(lambda: metrics(self.server)[0].get("gemma_active_sequences") == 0, timeout=10)
        self.assertTrue(idle, "gemma_active_sequences still > 0 10 s after the client closed its stream")
        # Nothing runs any more: the token counter and (where the server has it) the batcher's
        # step counter stand still.
        names = ("gemma_generated_tokens_total", "gemma_batch_steps_total")
        first = metrics(self.server)[0]
        time.sleep(0.5)
        second = metrics(self.server)[0]
        for name in names:
            self.assertEqual(second.get(name), first.get(name),
                             f"{name} still grows after the client went away")

    def test_client_timeout_cancels_a_non_streaming_request(self):
        # A non-streaming client that gives up (here: a 1 s timeout) closes its connection;
        # the server must stop generating for it.
        impatient = self.server.client().with_options(timeout=1.0)
        with self.assertRaises(openai.APITimeoutError):
            impatient.completions.create(model=MODEL, prompt=PROMPT_STORY, max_tokens=2000,
                                         temperature=0, extra_body={"ignore_eos": True})
        idle = wait_for(lambda: metrics(self.server)[0].get("gemma_active_sequences") == 0, timeout=10)
        self.assertTrue(idle, "gemma_active_sequences still > 0 10 s after the client gave up")
        first = metrics(self.server)[0]
        time.sleep(0.5)
        second = metrics(self.server)[0]
        self.assertEqual(second.get("gemma_batch_steps_total"), first.get("gemma_batch_steps_total"),
                         "the batcher still steps after the client gave up")
        self.assertGreaterEqual(second.get("gemma_generations_cancelled_total", 0), 1)

    # -- errors on the default server

    def test_bad_requests_400(self):
        cases = {
            "temperature -1": lambda: self.client.completions.create(
                model=MODEL, prompt="Hi", max_tokens=2, temperature=-1),
            "n=2": lambda: self.client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, n=2),
            "top_logprobs 21": lambda: self.client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2, logprobs=True,
                top_logprobs=21),
            "completion logprobs 21": lambda: self.client.completions.create(
                model=MODEL, prompt="Hi", max_tokens=2, logprobs=21),
        }
        for name, call in cases.items():
            with self.subTest(name):
                with self.assertRaises(openai.BadRequestError) as cm:
                    call()
                self.assertEqual(cm.exception.status_code, 400)
                self.assert_api_error_body(cm.exception)
        with self.subTest("malformed JSON"):
            status, _, body = http(self.server, "POST", "/v1/chat/completions", raw=b'{"model": "x", ')
            self.assert_http_error(status, body, 400)
        with self.subTest("no messages"):
            status, _, body = http(self.server, "POST", "/v1/chat/completions", {"model": "x"})
            self.assert_http_error(status, body, 400)

    def test_unknown_route_404(self):
        with self.assertRaises(openai.NotFoundError) as cm:
            self.client.post("/nonexistent", body={}, cast_to=object)
        self.assertEqual(cm.exception.status_code, 404)
        status, _, body = http(self.server, "GET", "/v1/nonexistent")
        self.assert_http_error(status, body, 404)


# ---------------------------------------------------------------------------------------------
# Servers with particular options: 401, 400 (context), 413, 429, 503


class TestApiKey(ServerTestCase):
    def test_api_key(self):
        srv = self.start_server("--api-key", "secret")
        wrong = srv.client(api_key="wrong")
        with self.assertRaises(openai.AuthenticationError) as cm:
            wrong.models.list()
        self.assertEqual(cm.exception.status_code, 401)
        self.assert_api_error_body(cm.exception)
        with self.assertRaises(openai.AuthenticationError):
            wrong.completions.create(model=MODEL, prompt="Hi", max_tokens=2)
        for method, path, body in (("GET", "/v1/models", None), ("GET", "/metrics", None),
                                   ("POST", "/tokenize", {"content": "Hi"})):
            with self.subTest(path=path):
                status, _, answer = http(srv, method, path, body)
                self.assert_http_error(status, answer, 401)
        status, _, body = http(srv, "GET", "/health")
        self.assertEqual((status, body), (200, {"status": "ok"}), "/health must not need the key")

        right = srv.client(api_key="secret")
        self.assertEqual(len(right.models.list().data), 1)
        r = right.completions.create(model=MODEL, prompt="Hi", max_tokens=2, temperature=0)
        self.assertLessEqual(r.usage.completion_tokens, 2)
        status, _, _ = http(srv, "GET", "/metrics", api_key="secret")
        self.assertEqual(status, 200)


class TestContextLimit(ServerTestCase):
    def test_context_exceeded_400(self):
        srv = self.start_server("--ctx", "256")
        client = srv.client()
        cases = {
            "completion max_tokens": lambda: client.completions.create(
                model=MODEL, prompt="Hi", max_tokens=100000),
            "chat max_tokens": lambda: client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=100000),
            "long prompt": lambda: client.completions.create(
                model=MODEL, prompt="hello " * 400, max_tokens=1),
        }
        for name, call in cases.items():
            with self.subTest(name):
                with self.assertRaises(openai.BadRequestError) as cm:
                    call()
                self.assertEqual(cm.exception.status_code, 400)
                self.assert_api_error_body(cm.exception)
        r = client.completions.create(model=MODEL, prompt="Hi", max_tokens=8, temperature=0)
        self.assert_usage(r.usage, max_tokens=8, finish_reason=r.choices[0].finish_reason)


class TestMaxBody(ServerTestCase):
    def test_body_too_large_413(self):
        srv = self.start_server("--max-body", "4096")
        client = srv.client()
        with self.assertRaises(openai.APIStatusError) as cm:
            client.completions.create(model=MODEL, prompt="a" * 10000, max_tokens=1)
        self.assertEqual(cm.exception.status_code, 413)
        r = client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, temperature=0)
        self.assertEqual(len(r.choices), 1)


class TestQueueFull(ServerTestCase):
    def test_queue_full_429(self):
        srv = self.start_server("--parallel", "1", "--queue", "1")
        client = srv.client()
        n = 6
        barrier = threading.Barrier(n)
        results = [None] * n

        def worker(i):
            try:
                barrier.wait(timeout=30)
                if i % 2:
                    stream = client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}],
                        max_tokens=64, temperature=0, stream=True)
                else:
                    stream = client.completions.create(model=MODEL, prompt=PROMPT_STORY, max_tokens=64,
                                                       temperature=0, stream=True)
                finish = None
                for ch in stream:
                    if ch.choices and ch.choices[0].finish_reason:
                        finish = ch.choices[0].finish_reason
                results[i] = ("ok", finish) if finish else ("incomplete", None)
            except openai.RateLimitError as err:
                results[i] = ("429", err)
            except Exception as err:  # noqa: BLE001 - reported below
                results[i] = ("error", repr(err))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        self.assertFalse(any(t.is_alive() for t in threads), f"requests still running: {results}")
        kinds = [r[0] if r else "none" for r in results]
        self.assertTrue(all(k in ("ok", "429") for k in kinds), f"results: {results}")
        self.assertGreaterEqual(kinds.count("429"), 1, f"no 429 with 6 requests on 1+1 slots: {results}")
        self.assertGreaterEqual(kinds.count("ok"), 1, f"no request served: {results}")
        for r in results:
            if r[0] == "429":
                self.assertEqual(r[1].status_code, 429)
                self.assert_api_error_body(r[1])
        r = client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, temperature=0)
        self.assertEqual(len(r.choices), 1, "server did not recover after the burst")


class TestGracefulShutdown(ServerTestCase):
    def test_sigterm_drains_then_exits_0(self):
        srv = self.start_server("--shutdown-timeout", "3")
        client = srv.client()
        streamed = threading.Event()
        state = {}

        def stream_reader():
            try:
                stream = client.completions.create(model=MODEL, prompt=PROMPT_STORY, max_tokens=2000,
                                                   temperature=0, stream=True)
                pieces, finish = 0, None
                for ch in stream:
                    if ch.choices and ch.choices[0].text:
                        pieces += 1
                        if pieces >= 2:
                            streamed.set()
                    if ch.choices and ch.choices[0].finish_reason:
                        finish = ch.choices[0].finish_reason
                state["stream"] = ("completed", finish)
            except openai.APIConnectionError as err:
                state["stream"] = ("connection", repr(err))
            except openai.APIError as err:
                state["stream"] = ("api_error", err)
            except Exception as err:  # noqa: BLE001
                state["stream"] = ("other", repr(err))
            finally:
                state["stream_end"] = time.monotonic()
                streamed.set()

        def blocking_request():
            try:
                r = client.completions.create(model=MODEL, prompt=PROMPT_FRANCE, max_tokens=2000,
                                              temperature=0)
                state["blocking"] = ("completed", r.choices[0].finish_reason)
            except openai.APIStatusError as err:
                state["blocking"] = ("status", err)
            except Exception as err:  # noqa: BLE001
                state["blocking"] = ("other", repr(err))

        t_stream = threading.Thread(target=stream_reader, daemon=True)
        t_block = threading.Thread(target=blocking_request, daemon=True)
        t_stream.start()
        self.assertTrue(streamed.wait(60), "the stream produced no text in 60 s")
        self.assertNotIn("stream", state, f"the stream ended before SIGTERM: {state}")
        t_block.start()
        self.assertTrue(wait_for(lambda: metrics(srv)[0].get("gemma_active_sequences", 0) >= 2, timeout=30),
                        "the non-streaming request never became active")

        t_signal = time.monotonic()
        srv.terminate()
        draining = wait_for(lambda: health_status(srv) == 503, timeout=5, interval=0.05)
        self.assertTrue(draining, "/health did not turn 503 after SIGTERM")
        self.assertEqual(http(srv, "GET", "/health")[2], {"status": "shutting down"})
        with self.assertRaises(openai.APIStatusError) as cm:
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=2)
        self.assertEqual(cm.exception.status_code, 503)
        self.assert_api_error_body(cm.exception)

        t_stream.join(timeout=20)
        t_block.join(timeout=20)
        self.assertFalse(t_stream.is_alive() or t_block.is_alive(), f"requests still running: {state}")
        self.assertLessEqual(state["stream_end"] - t_signal, 10.0, "the stream outlived the shutdown timeout")
        outcome, detail = state["stream"]
        self.assertIn(outcome, ("completed", "api_error"),
                      f"stream ended with {outcome}: {detail} (expected an SSE error event, then [DONE])")
        if outcome == "api_error":
            self.assertIsInstance(detail.body, dict, "the error event carries no error object")
        outcome, detail = state["blocking"]
        if outcome == "status":
            self.assertEqual(detail.status_code, 503, repr(detail))
        else:
            self.assertEqual(outcome, "completed", f"in-flight non-streaming request: {detail}")

        try:
            rc = srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the server had not exited 15 s after SIGTERM")
        srv.returncode = rc
        self.assertEqual(rc, 0, "exit code after SIGTERM")


def setUpModule():
    if not (os.path.isfile(GEMMA_BIN) and os.access(GEMMA_BIN, os.X_OK)):
        raise RuntimeError(f"GEMMA_BIN={GEMMA_BIN} is not an executable; build it (cargo build --release) "
                           "or set GEMMA_BIN")


def tearDownModule():
    if not os.environ.get("GEMMA_KEEP_LOGS") and not _ANY_FAILURE:
        for path in _LOG_FILES:
            try:
                os.unlink(path)
            except OSError:
                pass


def main():
    program = unittest.main(exit=False)
    result = program.result
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    in_tests = sum(1 for t, _ in result.failures + result.errors if isinstance(t, unittest.TestCase))
    skipped = len(result.skipped)
    passed = max(result.testsRun - in_tests - len(result.unexpectedSuccesses) - skipped, 0)
    print(f"openai: {passed} passed, {bad} failed, {skipped} skipped")
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
