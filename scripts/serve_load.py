#!/usr/bin/env python3
"""Bounded load test of `gemma serve` through the official `openai` client.

    ~/.cache/gemma-rs/venv-openai/bin/python scripts/serve_load.py \\
        [--clients 16] [--duration 60] [--max-tokens 64] [--json] \\
        [--url http://127.0.0.1:8080 | --bin target/release/gemma --model PATH --parallel 16 --queue 64]

Without --url it starts `gemma serve --port 0` itself (see scripts/serve_common.py for the server
options) and stops it at the end.

Each of --clients threads loops over streaming requests, alternating chat completions (with
stream_options.include_usage) and text completions over a small list of prompts, until
--duration seconds have passed (or --max-requests were started); requests in flight then finish.
Per request it measures the time to the first non-empty content chunk and the total latency;
generated tokens are the usage's completion_tokens for chat and the count of content chunks for
completions.

It reports requests completed, 429 rejections (counted apart: they are the server's intended
answer to a full queue), other errors by type or status, requests/s, generated tokens/s (tokens
over the whole wall time), and TTFT and latency p50/p99; --json prints the same as one JSON object
on stdout, after the text report.

Exit status 1 if any request failed other than with 429, if any ended without a finish_reason
(or, for chat, without its usage chunk), or if none completed.
"""

import argparse
import json
import sys
import threading
import time
from collections import Counter

from serve_common import add_server_args, fmt, import_openai, make_client, percentile, server_from_args

PROMPTS = [
    "Once upon a time",
    "The capital of France is",
    "Write a short poem about the sea.",
    "Explain what a hash table is.",
    "List three uses of copper:",
    "The quick brown fox",
    "In 1969, the first humans",
    "Give me a recipe for pancakes.",
]


class Record:
    __slots__ = ("kind", "outcome", "detail", "ttft", "latency", "tokens")

    def __init__(self, kind):
        self.kind = kind
        self.outcome = "ok"  # ok | 429 | error | incomplete
        self.detail = None
        self.ttft = None
        self.latency = None
        self.tokens = 0


def one_request(openai, client, kind, prompt, args, seed):
    rec = Record(kind)
    t0 = time.perf_counter()
    chunks, finish, usage = 0, None, None
    try:
        if kind == "chat":
            stream = client.chat.completions.create(
                model="gemma", messages=[{"role": "user", "content": prompt}], max_tokens=args.max_tokens,
                temperature=args.temperature, seed=seed, stream=True, stream_options={"include_usage": True})
        else:
            stream = client.completions.create(
                model="gemma", prompt=prompt, max_tokens=args.max_tokens, temperature=args.temperature,
                seed=seed, stream=True)
        for chunk in stream:
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            text = choice.delta.content if kind == "chat" else choice.text
            if text:
                chunks += 1
                if rec.ttft is None:
                    rec.ttft = time.perf_counter() - t0
            if choice.finish_reason:
                finish = choice.finish_reason
    except openai.RateLimitError:
        rec.outcome = "429"
    except openai.APIStatusError as err:
        rec.outcome, rec.detail = "error", f"HTTP {err.status_code}"
    except openai.APITimeoutError:
        rec.outcome, rec.detail = "error", "timeout"
    except openai.APIConnectionError:
        rec.outcome, rec.detail = "error", "connection error"
    except openai.APIError as err:  # an SSE error event
        rec.outcome, rec.detail = "error", f"stream error event: {err.message}"
    except Exception as err:  # noqa: BLE001 - every failure is counted, none stops the test
        rec.outcome, rec.detail = "error", type(err).__name__
    rec.latency = time.perf_counter() - t0
    if rec.outcome == "ok":
        if finish is None:
            rec.outcome, rec.detail = "incomplete", "no finish_reason"
        elif kind == "chat" and usage is None:
            rec.outcome, rec.detail = "incomplete", "no usage chunk"
        rec.tokens = usage if usage is not None else chunks
    return rec


def run_load(root_url, args):
    openai = import_openai()
    client = make_client(root_url, args.api_key, timeout=args.request_timeout)
    records = []
    lock = threading.Lock()
    started = [0]
    deadline = time.monotonic() + args.duration

    def take_slot():
        with lock:
            if started[0] >= args.max_requests:
                return None
            started[0] += 1
            return started[0]

    def client_loop(cid):
        k = 0
        while time.monotonic() < deadline:
            n = take_slot()
            if n is None:
                break
            kind = "chat" if (cid + k) % 2 == 0 else "completion"
            prompt = PROMPTS[(cid * 3 + k) % len(PROMPTS)]
            rec = one_request(openai, client, kind, prompt, args, seed=n)
            with lock:
                records.append(rec)
            if rec.outcome == "429":
                time.sleep(0.05)  # back off briefly: the queue is full
            elif rec.outcome == "error":
                time.sleep(0.1)
            k += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    join_deadline = deadline + args.request_timeout + 30
    for t in threads:
        t.join(timeout=max(join_deadline - time.monotonic(), 0))
    wall = time.monotonic() - t0
    hung = sum(t.is_alive() for t in threads)
    with lock:
        records = list(records)
    return summarize(records, wall, hung, root_url, args)


def summarize(records, wall, hung, root_url, args):
    ok = [r for r in records if r.outcome == "ok"]
    errors = Counter(f"{r.kind}: {r.detail}" for r in records if r.outcome == "error")
    incomplete = Counter(f"{r.kind}: {r.detail}" for r in records if r.outcome == "incomplete")
    if hung:
        incomplete["still running at the end"] += hung
    tokens = sum(r.tokens for r in ok)
    ttfts = [r.ttft for r in ok if r.ttft is not None]
    latencies = [r.latency for r in ok]
    return {
        "url": root_url,
        "clients": args.clients,
        "duration_s": args.duration,
        "max_tokens": args.max_tokens,
        "wall_s": round(wall, 3),
        "requests_completed": len(ok),
        "completed_by_kind": dict(Counter(r.kind for r in ok)),
        "rejected_429": sum(r.outcome == "429" for r in records),
        "errors": dict(errors),
        "incomplete": dict(incomplete),
        "requests_per_s": len(ok) / wall if wall else 0.0,
        "generated_tokens": tokens,
        "generated_tokens_per_s": tokens / wall if wall else 0.0,
        "ttft_p50_s": percentile(ttfts, 50),
        "ttft_p99_s": percentile(ttfts, 99),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p99_s": percentile(latencies, 99),
    }


def print_report(s):
    print(f"serve_load: {s['clients']} clients for {s['duration_s']} s (wall {s['wall_s']:.1f} s with the "
          f"drain), max_tokens {s['max_tokens']}, {s['url']}")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["completed_by_kind"].items()))
    print(f"requests:     {s['requests_completed']} completed ({kinds or 'none'}), "
          f"{s['rejected_429']} rejected with 429, {sum(s['errors'].values())} errors, "
          f"{sum(s['incomplete'].values())} incomplete")
    print(f"throughput:   {s['requests_per_s']:.2f} requests/s, {s['generated_tokens_per_s']:.1f} generated "
          f"tokens/s ({s['generated_tokens']} tokens)")
    print(f"TTFT:         p50 {fmt(s['ttft_p50_s'], ' s')}, p99 {fmt(s['ttft_p99_s'], ' s')}")
    print(f"latency:      p50 {fmt(s['latency_p50_s'], ' s')}, p99 {fmt(s['latency_p99_s'], ' s')}")
    for title, counts in (("errors", s["errors"]), ("incomplete", s["incomplete"])):
        for what, n in sorted(counts.items()):
            print(f"{title}: {n} x {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds during which new requests start (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default: %(default)s)")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default: %(default)s)")
    parser.add_argument("--max-requests", type=int, default=100000,
                        help="most requests started in all (default: %(default)s)")
    parser.add_argument("--request-timeout", type=float, default=300.0,
                        help="client timeout per request in seconds (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    add_server_args(parser, default_parallel=16, default_queue=64)
    args = parser.parse_args()
    if args.clients < 1 or args.duration <= 0 or args.max_tokens < 1:
        parser.error("--clients and --max-tokens must be >= 1 and --duration > 0")

    with server_from_args(args) as root_url:
        summary = run_load(root_url, args)
    print_report(summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    failed = summary["errors"] or summary["incomplete"] or summary["requests_completed"] == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
