"""How long does one ``decide()`` call take on a rules slot, and against a fixed slot?

Measures the real in-process call ``decide("home-hero", visitor, context, sink=...)``
(rules policy, four variants, three segments from the demo seed) on the embedded default
settings: a throwaway SQLite database under a temp ``TAILOR_VAR_DIR`` and the locmem cache.
Decisions go to a batch sink exactly as on the request path (the write
happens after the response, so it is not part of ``decide``). Visitors and contexts vary
(desktop, mobile, tablet, newsletter by UTM and by referrer, returning, combinations) so
every rule path is hit, and every chosen variant is checked against the expected one.
Interleaved call by call with ``decide("product-offer", ...)`` (fixed policy) as baseline.

Targets: home-hero median < 0.2 ms and p99 < 1 ms per call.

Run:  .venv/bin/python bench/decide.py            (20,000 calls of each after 2,000 warm-up)
      .venv/bin/python bench/decide.py --calls 5000 --no-record   (quick look, no RESULTS.md row)
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import django_embedded_setup, machine, now_utc, percentile, results_append, versions, yes_no  # noqa: E402

TARGET_MEDIAN_MS = 0.2
TARGET_P99_MS = 1.0
HERO, OFFER = "home-hero", "product-offer"


def _context(visitor: Any, *, device: str = "desktop", utm_source: str = "", referrer: str = "") -> dict[str, Any]:
    # The flat mapping tracking.context.request_context builds for a request.
    referrer_host = referrer.split("/")[2] if referrer.count("/") >= 2 else ""
    query = {"utm_source": utm_source} if utm_source else {}
    context: dict[str, Any] = {
        "visitor_id": visitor.id,
        "device": device,
        "browser": "Mobile Safari" if device != "desktop" else "Chrome",
        "os": "iOS" if device != "desktop" else "Linux",
        "country": "NL",
        "referrer": referrer,
        "referrer_host": referrer_host,
        "query": query,
        "hour": 14,
        "weekday": 2,
        "is_authenticated": False,
        "visit_count": visitor.visit_count,
        "is_returning": visitor.is_returning,
    }
    if utm_source:
        context["utm_source"] = utm_source
    return context


# (description, device, utm_source, referrer, visit_count, expected home-hero variant)
# Expected by the demo's rule order: newsletter, then mobile (mobile or tablet), then returning.
CASES = [
    ("desktop, first visit", "desktop", "", "", 1, "hero-default"),
    ("desktop, search referrer", "desktop", "", "https://www.google.com/search?q=tailor", 1, "hero-default"),
    ("mobile", "mobile", "", "", 1, "hero-mobile"),
    ("tablet", "tablet", "", "", 1, "hero-mobile"),
    ("newsletter by utm_source", "desktop", "newsletter", "", 1, "hero-newsletter"),
    ("newsletter by referrer", "desktop", "", "https://mail.example.com/newsletter/42", 1, "hero-newsletter"),
    ("returning, desktop", "desktop", "", "", 3, "hero-welcome-back"),
    ("returning, mobile", "mobile", "", "", 4, "hero-mobile"),
    ("newsletter, mobile", "mobile", "newsletter", "", 1, "hero-newsletter"),
    ("other utm_source", "desktop", "twitter", "", 1, "hero-default"),
]


def scenarios(visitor_cls: type, count: int) -> list[tuple[Any, dict[str, Any], str, str]]:
    """``count`` (visitor, context, expected variant, case name), cycling through CASES with new visitors."""
    out = []
    for i in range(count):
        name, device, utm_source, referrer, visits, expected = CASES[i % len(CASES)]
        visitor = visitor_cls(id=str(uuid.uuid4()), visit_count=visits, is_returning=visits > 1)
        out.append(
            (visitor, _context(visitor, device=device, utm_source=utm_source, referrer=referrer), expected, name)
        )
    return out


def run(calls: int, warmup: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from personalization.serving.decide import decide, slot_get
    from tracking.decision_sinks import DecisionBatch
    from tracking.visitors import VisitorState

    hero, offer = slot_get(HERO), slot_get(OFFER)
    hero_segments = [segment.key for segment, _ in hero.policy.rules]
    facts = {
        "hero_policy": hero.policy.name,
        "hero_variants": sorted(hero.variants),
        "hero_segments": hero_segments,
        "offer_policy": offer.policy.name,
    }
    if (hero.policy.name, len(hero.candidates), len(hero_segments), offer.policy.name) != ("rules", 4, 3, "fixed"):
        raise RuntimeError(f"the demo seed changed; this benchmark expects 4 variants and 3 segments: {facts}")

    pool = scenarios(VisitorState, 500)
    batch = DecisionBatch()  # read, never written: the write happens after the response, outside decide()
    pending = batch.records
    perf = time.perf_counter_ns

    def one(slot_key: str, visitor: Any, context: dict[str, Any]) -> tuple[int, str]:
        start = perf()
        decision = decide(slot_key, visitor, context, sink=batch)
        elapsed = perf() - start
        # Exactly one record queued per call, and it is the decision returned.
        if len(pending) != 1 or pending[0]["variant_key"] != decision.variant.key:
            raise AssertionError(f"decision log: expected 1 queued record for {slot_key}, got {pending!r}")
        pending.clear()
        return elapsed, decision.variant.key

    for i in range(warmup):
        visitor, context, _, _ = pool[i % len(pool)]
        one(HERO, visitor, context)
        one(OFFER, visitor, context)

    hero_ns: list[int] = []
    offer_ns: list[int] = []
    chosen: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    gc.collect()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for i in range(calls):
            visitor, context, expected, case = pool[i % len(pool)]
            # Alternate which goes first so neither always runs on a warmer cache line.
            order = ((HERO, hero_ns), (OFFER, offer_ns)) if i % 2 == 0 else ((OFFER, offer_ns), (HERO, hero_ns))
            for slot_key, sink in order:
                elapsed, variant = one(slot_key, visitor, context)
                sink.append(elapsed)
                want = expected if slot_key == HERO else "offer-standard"
                if variant != want:
                    wrong.append(f"{slot_key} / {case}: got {variant}, expected {want}")
                if slot_key == HERO:
                    chosen[(case, variant)] += 1
    wall = time.perf_counter() - started

    def ms(values: list[int], pct: float) -> float:
        return percentile(values, pct) / 1e6

    return {
        **facts,
        "calls": calls,
        "warmup": warmup,
        "wall_s": wall,
        "hero_median_ms": ms(hero_ns, 50),
        "hero_p99_ms": ms(hero_ns, 99),
        "hero_max_ms": max(hero_ns) / 1e6,
        "offer_median_ms": ms(offer_ns, 50),
        "offer_p99_ms": ms(offer_ns, 99),
        "queries": len(queries.captured_queries),
        "wrong": wrong,
        "chosen": chosen,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls of each slot (default 20000)")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed calls of each slot first (default 2000)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a plain `kill` still removes the temp folder
    var_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-decide-"))
    try:
        django_embedded_setup(var_dir, hero_strategy="rules")
        result = run(args.calls, args.warmup)
    finally:
        if "django.db" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
            from django.db import connections

            connections.close_all()  # before deleting the SQLite file under var_dir
        shutil.rmtree(var_dir, ignore_errors=True)

    ratio = result["hero_median_ms"] / result["offer_median_ms"]
    correct = not result["wrong"] and result["queries"] == 0
    met = result["hero_median_ms"] < TARGET_MEDIAN_MS and result["hero_p99_ms"] < TARGET_P99_MS
    command = ".venv/bin/python bench/decide.py" + (f" --calls {args.calls}" if args.calls != 20_000 else "")

    print(f"decide() benchmark  ({now_utc()}, {machine()}, {versions()})")
    print(
        f"  home-hero: policy {result['hero_policy']}, variants {result['hero_variants']}, segments {result['hero_segments']}"
    )
    print(
        f"  {result['calls']} timed calls of each slot, interleaved, after {result['warmup']} warm-up; {result['wall_s']:.1f} s"
    )
    print(
        f"  home-hero     median {result['hero_median_ms']:.4f} ms  p99 {result['hero_p99_ms']:.4f} ms"
        f"  max {result['hero_max_ms']:.3f} ms"
    )
    print(f"  product-offer median {result['offer_median_ms']:.4f} ms  p99 {result['offer_p99_ms']:.4f} ms")
    print(f"  ratio home-hero / product-offer (medians): {ratio:.2f}")
    print("  variants chosen for home-hero, by case:")
    for (case, variant), count in sorted(result["chosen"].items()):
        print(f"    {case:<28} -> {variant:<18} x{count}")
    print(f"  SQL queries while timing: {result['queries']};  wrong variants: {len(result['wrong'])}")
    for line in result["wrong"][:10]:
        print(f"    WRONG: {line}")
    print(
        f"  target median < {TARGET_MEDIAN_MS} ms and p99 < {TARGET_P99_MS} ms: {yes_no(met)};"
        f"  results correct: {yes_no(correct)}"
    )

    if not args.no_record:
        results_append(
            "decide",
            [
                "date",
                "machine",
                "versions",
                "command",
                "calls (each)",
                "home-hero median ms",
                "home-hero p99 ms",
                "product-offer median ms",
                "product-offer p99 ms",
                "ratio (medians)",
                "correct",
                "target met",
            ],
            [
                [
                    now_utc(),
                    machine(),
                    versions(),
                    f"`{command}`",
                    result["calls"],
                    f"{result['hero_median_ms']:.4f}",
                    f"{result['hero_p99_ms']:.4f}",
                    f"{result['offer_median_ms']:.4f}",
                    f"{result['offer_p99_ms']:.4f}",
                    f"{ratio:.2f}",
                    yes_no(correct),
                    yes_no(met),
                ]
            ],
        )
        print(f"  appended to {Path('bench/RESULTS.md')}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
