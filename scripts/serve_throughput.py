#!/usr/bin/env python3
"""Aggregate generation throughput of `gemma serve` at several concurrency levels.

    ~/.cache/gemma-rs/venv-openai/bin/python scripts/serve_throughput.py \\
        [--levels 1,4,16] [--rounds 2] [--max-tokens 64] [--prompt TEXT] [--json] \\
        [--url http://127.0.0.1:8080 | --bin target/release/gemma --model PATH --parallel 16 --queue 64]

Without --url it starts `gemma serve --port 0` itself (see scripts/serve_common.py for the server
options; --parallel defaults to 16 so that every level up to 16 runs at once) and stops it at the
end.

For each level L, L client threads start together and each makes --rounds non-streaming text
completions one after the other: the same prompt, temperature 0, max_tokens and llama.cpp's
`ignore_eos` (unless --no-ignore-eos), so that every request generates the same, fixed number of
tokens; a request that still stops early is reported. One short request warms the server up
first.

Per level it reports: requests, completion tokens, wall seconds (first start to last answer),
aggregate tokens/s (all completion tokens over the wall time) and the mean per-request tokens/s
(each request's completion tokens over its own latency). --json also prints the rows as JSON.
Exit status 1 if any request failed.
"""

import argparse
import json
import sys
import threading
import time

from serve_common import add_server_args, import_openai, make_client, server_from_args

DEFAULT_PROMPT = "Once upon a time"


def run_level(openai, client, level, args):
    extra_body = None if args.no_ignore_eos else {"ignore_eos": True}
    barrier = threading.Barrier(level)
    results = []  # (completion tokens, seconds, finish_reason)
    errors = []
    lock = threading.Lock()
    stamps = []

    def worker():
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            with lock:
                errors.append("barrier broken")
            return
        with lock:
            stamps.append(time.perf_counter())
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            try:
                r = client.completions.create(model="gemma", prompt=args.prompt, max_tokens=args.max_tokens,
                                              temperature=0, extra_body=extra_body)
            except openai.APIStatusError as err:
                with lock:
                    errors.append(f"HTTP {err.status_code}")
                continue
            except Exception as err:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(type(err).__name__)
                continue
            t1 = time.perf_counter()
            with lock:
                results.append((r.usage.completion_tokens, t1 - t0, r.choices[0].finish_reason))
                stamps.append(t1)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(level)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.request_timeout * args.rounds + 60)
    if any(t.is_alive() for t in threads):
        errors.append("client still running at the deadline")
    wall = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0
    tokens = sum(n for n, _, _ in results)
    per_request = [n / s for n, s, _ in results if s > 0]
    return {
        "level": level,
        "requests": len(results),
        "completion_tokens": tokens,
        "wall_s": round(wall, 3),
        "aggregate_tok_s": tokens / wall if wall > 0 else 0.0,
        "mean_request_tok_s": sum(per_request) / len(per_request) if per_request else 0.0,
        "stopped_early": sum(1 for _, _, f in results if f != "length"),
        "errors": errors,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels, comma-separated (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client per level (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request (default: %(default)s)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the prompt (default: %(default)r)")
    parser.add_argument("--no-ignore-eos", action="store_true",
                        help="do not send ignore_eos (requests may then stop at an end token)")
    parser.add_argument("--request-timeout", type=float, default=600.0,
                        help="client timeout per request in seconds (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    add_server_args(parser, default_parallel=16, default_queue=64)
    args = parser.parse_args()
    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        parser.error("--levels takes comma-separated integers")
    if not levels or min(levels) < 1 or args.rounds < 1 or args.max_tokens < 1:
        parser.error("levels, --rounds and --max-tokens must be >= 1")

    openai = import_openai()
    rows = []
    with server_from_args(args) as root_url:
        client = make_client(root_url, args.api_key, timeout=args.request_timeout)
        client.completions.create(model="gemma", prompt=args.prompt, max_tokens=4, temperature=0)  # warm-up
        print(f"serve_throughput: {root_url}, prompt {args.prompt!r}, max_tokens {args.max_tokens}, "
              f"{args.rounds} rounds per client")
        print(f"{'level':>5} {'requests':>8} {'tokens':>7} {'wall s':>8} {'agg tok/s':>10} {'req tok/s':>10}")
        for level in levels:
            row = run_level(openai, client, level, args)
            rows.append(row)
            note = ""
            if row["stopped_early"]:
                note += f"  ({row['stopped_early']} stopped before max_tokens)"
            if row["errors"]:
                note += f"  errors: {', '.join(row['errors'])}"
            print(f"{level:>5} {row['requests']:>8} {row['completion_tokens']:>7} {row['wall_s']:>8.2f} "
                  f"{row['aggregate_tok_s']:>10.1f} {row['mean_request_tok_s']:>10.1f}{note}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
