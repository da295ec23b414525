"""How many more pages per second does the cache-friendly mode serve behind a caching proxy than personalized pages?

One run, one machine: a throwaway PostgreSQL and Redis (``devtools.services``), the demo site migrated and seeded
(home-hero on rules), and two gunicorn servers (``config.wsgi``, 2 sync workers each) on that database: one
personalizes pages (the default), one runs with ``TAILOR_CACHE_FRIENDLY=1`` behind a caching nginx
(``devtools.proxy``: ``proxy_cache`` keyed on the URL, as a CDN). ``wrk`` (one thread, 4 connections, a desktop
browser's User-Agent, no cookie: every request a new visitor) loads, in alternating rounds (A B, B A, ...) after a
warm-up, so a noisy machine slows both alike:

- A: the demo home page ``/`` from the personalizing gunicorn directly (uncached; it is ``private``),
- B: the same page in cache-friendly mode through the proxy.

Each round's figure is pages per second; the result is the median of the per-pair ratios B / A (and its p10..p90).
While timing it checks every response: 200, A holds ``data-tailor-decision``, B holds ``data-tailor-pending`` and no
decision id; and from nginx's log, the share of B's requests answered from the cache (X-Cache-Status HIT).
Each cache-friendly visitor's tracker then asks the origin for its slots in one ``POST /api/v1/decisions/``:
that request is not in this figure (tests/integration/test_cdn_proxy.py checks it; it is throttled per address, so
one load generator cannot time it).

Target (issue 12): B / A >= 10.

Run:  .venv/bin/python bench/cdn.py            (about 2 minutes; appends its figures to bench/RESULTS.md)
      .venv/bin/python bench/cdn.py --rounds 2 --seconds 1 --no-record   (smoke test)
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import RATIO_COLUMNS, machine, now_utc, percentile, results_append, versions, yes_no  # noqa: E402
from bench._stack import (  # noqa: E402
    DESKTOP_UA,
    WRK_MARKERS_LUA,
    Stack,
    command_line,
    log_problems,
    server_env,
    wrk,
    wrk_missing,
)

DEFAULTS = {"rounds": 10, "seconds": 3, "warmup": 2, "connections": 4}
TARGET_RATIO = 10.0
PAGE = "/"


def load(url: str, seconds: float, connections: int, script: Path, *args: str) -> dict:
    result = wrk(url, seconds, connections, script, args, timeout=seconds + 60, headers=[f"User-Agent: {DESKTOP_UA}"])
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    result["bad"] = result["non200"] + result["missing"] + result["unexpected"] + result["errors"]
    return result


def page_slots(url: str) -> list[str]:
    request = urllib.request.Request(url, headers={"User-Agent": DESKTOP_UA})  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return re.findall(r'data-tailor-slot="([^"]+)" data-tailor-pending', response.read().decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()
    if wrk_missing("bench/cdn.py"):
        sys.exit(2)
    from devtools.proxy import CachingProxy

    with Stack.create("cdn") as stack:
        stack.services_start()
        env = server_env(stack.pg.url, stack.rd.url, stack.var_dir, "cdn")
        stack.site_prepare(env)
        personalized = stack.gunicorn(env, "personalized", lambda base: bool(urllib.request.urlopen(base + PAGE)))  # noqa: S310
        cache_env = {**env, "TAILOR_CACHE_FRIENDLY": "1"}
        friendly = stack.gunicorn(cache_env, "cache-friendly", lambda base: bool(urllib.request.urlopen(base + PAGE)))  # noqa: S310
        proxy = CachingProxy.start({"cdn": friendly.port}, folder=None)
        try:
            script = stack.var_dir / "cdn.lua"
            script.write_text(WRK_MARKERS_LUA)
            proxied = proxy.url("cdn") + PAGE
            slots = page_slots(proxied)
            legs = {
                "A": (personalized.base + PAGE, ("data-tailor-decision", "data-tailor-pending")),
                "B": (proxied, ("data-tailor-pending", "data-tailor-decision")),
            }
            print(f"warm-up {args.warmup} s each; slots on the page: {', '.join(slots)}", flush=True)
            for url, markers in legs.values():
                load(url, args.warmup, args.connections, script, *markers)
            rates: dict[str, list[float]] = {"A": [], "B": []}
            latencies: dict[str, list[int]] = {"A": [], "B": []}
            bad = 0
            for i in range(args.rounds):
                for leg in "AB" if i % 2 == 0 else "BA":
                    url, markers = legs[leg]
                    result = load(url, args.seconds, args.connections, script, *markers)
                    rates[leg].append(result["rate"])
                    latencies[leg].append(result["p99_us"])
                    bad += result["bad"]
                print(f"round {i + 1}: A {rates['A'][-1]:.0f}/s  B {rates['B'][-1]:.0f}/s", flush=True)
            statuses = [row[3] for row in proxy.cache_statuses("cdn") if row[1] == PAGE]
            hit_rate = statuses.count("HIT") / len(statuses)
        finally:
            proxy.stop()
        problems = log_problems(personalized.log_text() + friendly.log_text())

    ratios = [b / a for a, b in zip(rates["A"], rates["B"], strict=True)]
    ratio = statistics.median(ratios)
    checked = bad == 0 and not problems and hit_rate >= 0.99
    met = ratio >= TARGET_RATIO and checked
    figure = f"{statistics.median(rates['B']):.0f} pages/s (cache-friendly, via nginx; hit rate {hit_rate:.1%})"
    baseline = f"{statistics.median(rates['A']):.0f} pages/s (personalized, uncached)"
    print()
    print(
        f"A personalized, uncached: median {statistics.median(rates['A']):.0f} pages/s, p99 latency "
        f"{statistics.median(latencies['A']) / 1000:.1f} ms"
    )
    print(
        f"B cache-friendly via nginx: median {statistics.median(rates['B']):.0f} pages/s, p99 latency "
        f"{statistics.median(latencies['B']) / 1000:.1f} ms, hit rate {hit_rate:.1%} of {len(statuses)}"
    )
    print(
        f"ratio B/A: median {ratio:.1f}x (p10 {percentile(ratios, 10):.1f}x, p90 {percentile(ratios, 90):.1f}x, "
        f"{len(ratios)} pairs); target >= {TARGET_RATIO:.0f}x: {yes_no(met)}"
    )
    print(
        f"checked: every response 200 with the right markers: {yes_no(bad == 0)}; server logs clean: "
        f"{yes_no(not problems)}"
    )
    if args.no_record:
        return
    results_append(
        "CDN: cache-friendly pages behind a caching proxy vs personalized pages (bench/cdn.py)",
        RATIO_COLUMNS,
        [
            [
                now_utc(),
                machine(),
                versions(),
                "PostgreSQL + Redis",
                command_line("bench/cdn.py", args, DEFAULTS, ("no_record",)),
                f"wrk 1 thread, {args.connections} connections, new visitor per request, {args.rounds} pairs of "
                f"{args.seconds} s rounds alternated",
                figure,
                baseline,
                f"{ratio:.1f}x (p10 {percentile(ratios, 10):.1f}x, p90 {percentile(ratios, 90):.1f}x)",
                yes_no(checked),
                f">= {TARGET_RATIO:.0f}x",
                yes_no(met),
            ]
        ],
    )


if __name__ == "__main__":
    main()
