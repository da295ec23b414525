"""How long does ``decide()`` take on a bandit slot, against a fixed slot and the rules slot in the same run?

The setup of ``bench/decide.py`` (embedded settings: a throwaway SQLite database and the locmem
cache, the demo seed with the home-hero on its segment rules, decisions queued on a batch sink
as on the request path), with the home-hero's compiled policy swapped in the in-memory catalog
for a ``BanditPolicy`` over the same three segments: one allocation per segment plus one for
the rest of the slot, computed by ``allocation_compute`` from made-up statistics and held in a
dict, as serving's job would hold the latest allocations in memory. Calls go through the real
``decide("home-hero", ...)``; interleaved call by call with ``decide("product-offer", ...)``
(fixed policy, the baseline) and with the rules hero (the original compiled slot, under another
key). Every bandit decision is checked against ``BanditPolicy.choose`` for the same visitor
(sticky: the same variant and propensity), and the engine call alone is timed as well.

Targets: bandit median < 0.1 ms and p99 < 0.5 ms per ``decide()`` call.

Run:  .venv/bin/python bench/bandit_decide.py                 (20,000 calls of each after 2,000 warm-up)
      .venv/bin/python bench/bandit_decide.py --calls 5000    (quick look)
Prints markdown rows for bench/RESULTS.md (the lead appends them).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import django_embedded_setup, machine, now_utc, percentile, versions, yes_no  # noqa: E402
from bench.decide import HERO, OFFER, scenarios  # noqa: E402

TARGET_MEDIAN_MS = 0.1
TARGET_P99_MS = 0.5
RULES_ALIAS = "bench-rules-hero"

# Made-up (exposures, clicks) per hero variant, per segment ("" = visitors in none of the slot's segments).
STATS = {
    "": {"hero-default": (4000, 160), "hero-mobile": (900, 30), "hero-newsletter": (800, 28), "hero-welcome-back": (1200, 55)},
    "newsletter-traffic": {"hero-default": (300, 9), "hero-mobile": (120, 3), "hero-newsletter": (1500, 95), "hero-welcome-back": (200, 7)},
    "mobile-visitors": {"hero-default": (500, 12), "hero-mobile": (2500, 120), "hero-newsletter": (150, 4), "hero-welcome-back": (300, 10)},
    "returning-visitors": {"hero-default": (700, 25), "hero-mobile": (200, 6), "hero-newsletter": (180, 5), "hero-welcome-back": (1600, 90)},
}  # fmt: skip


def allocations_build() -> dict[str, Any]:
    from personalization.engine import ArmStats, allocation_compute

    return {
        segment: allocation_compute(
            [ArmStats(key, n=float(n), total=float(clicks)) for key, (n, clicks) in arms.items()],
            floor=0.01,
            seed=1,
            version=f"bench-{segment or 'slot'}-1",
        )
        for segment, arms in STATS.items()
    }


def run(calls: int, warmup: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from personalization.engine import BanditPolicy, Context
    from personalization.serving.catalog import catalog_get
    from personalization.serving.decide import decide, slot_get
    from tracking.decision_sinks import DecisionBatch
    from tracking.visitors import VisitorState

    rules_hero, offer = slot_get(HERO), slot_get(OFFER)
    rules = getattr(rules_hero.policy, "rules", ())  # the rules policy's, which the bandit reuses per segment
    segments = [segment.key for segment, _ in rules]
    if (rules_hero.policy.name, len(rules_hero.candidates), len(segments), offer.policy.name) != (
        "rules",
        4,
        3,
        "fixed",
    ):
        raise RuntimeError(f"the demo seed changed; expected a rules hero with 4 variants and 3 segments: {segments}")
    allocations = allocations_build()
    if set(allocations) != {"", *segments}:
        raise RuntimeError(f"the demo's hero segments changed: {segments}")
    bandit = BanditPolicy(salt=HERO, rules=rules, allocations=allocations.get)
    bandit_hero = dataclasses.replace(rules_hero, policy=bandit)
    catalog = catalog_get()
    catalog.slots[HERO] = bandit_hero  # what serving's catalog compiles for a bandit slot, allocations injected
    catalog.slots[RULES_ALIAS] = rules_hero

    pool = scenarios(VisitorState, 500)
    expected = []
    for _, context, _, case in pool:
        choice = bandit.choose(bandit_hero.candidates, Context.from_mapping(context), random.Random(0))
        expected.append((choice.key, choice.propensity, choice.reason, case))
    batch = DecisionBatch()
    pending = batch.records
    perf = time.perf_counter_ns

    def one(slot_key: str, visitor: Any, context: dict[str, Any]) -> tuple[int, Any]:
        start = perf()
        decision = decide(slot_key, visitor, context, sink=batch)
        elapsed = perf() - start
        if len(pending) != 1 or pending[0]["variant_key"] != decision.variant.key:
            raise AssertionError(f"decision log: expected 1 queued record for {slot_key}, got {pending!r}")
        pending.clear()
        return elapsed, decision

    slots = (HERO, OFFER, RULES_ALIAS)
    for i in range(warmup):
        visitor, context, _, _ = pool[i % len(pool)]
        for slot_key in slots:
            one(slot_key, visitor, context)

    timings: dict[str, list[int]] = {slot_key: [] for slot_key in slots}
    chosen: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    gc.collect()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for i in range(calls):
            visitor, context, rules_expected, case = pool[i % len(pool)]
            # Rotate which goes first so none always runs on a warmer cache line.
            for slot_key in slots[i % 3 :] + slots[: i % 3]:
                elapsed, decision = one(slot_key, visitor, context)
                timings[slot_key].append(elapsed)
                if slot_key == HERO:
                    key, propensity, reason, _ = expected[i % len(pool)]
                    got = (decision.variant.key, decision.propensity, decision.policy, decision.reason)
                    if got != (key, propensity, "bandit", reason):
                        wrong.append(f"bandit / {case}: got {got}, expected {(key, propensity, 'bandit', reason)}")
                    chosen[(reason, decision.variant.key)] += 1
                elif slot_key == RULES_ALIAS and decision.variant.key != rules_expected:
                    wrong.append(f"rules / {case}: got {decision.variant.key}, expected {rules_expected}")
                elif slot_key == OFFER and decision.variant.key != "offer-standard":
                    wrong.append(f"fixed / {case}: got {decision.variant.key}")
    wall = time.perf_counter() - started

    # The engine call alone, on prepared contexts: what the policy itself costs inside decide().
    contexts = [Context.from_mapping(context) for _, context, _, _ in pool]
    candidates = bandit_hero.candidates
    rng = random.Random(0)
    choose_ns = []
    for i in range(calls):
        start = perf()
        bandit.choose(candidates, contexts[i % len(contexts)], rng)
        choose_ns.append(perf() - start)

    def ms(values: list[int], pct: float) -> float:
        return percentile(values, pct) / 1e6

    return {
        "calls": calls,
        "warmup": warmup,
        "wall_s": wall,
        "segments": segments,
        "allocations": allocations,
        **{
            f"{name}_median_ms": ms(timings[key], 50)
            for name, key in (("bandit", HERO), ("fixed", OFFER), ("rules", RULES_ALIAS))
        },
        **{
            f"{name}_p99_ms": ms(timings[key], 99)
            for name, key in (("bandit", HERO), ("fixed", OFFER), ("rules", RULES_ALIAS))
        },
        "choose_median_ms": ms(choose_ns, 50),
        "choose_p99_ms": ms(choose_ns, 99),
        "queries": len(queries.captured_queries),
        "wrong": wrong,
        "chosen": chosen,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls of each slot (default 20000)")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed calls of each slot first (default 2000)")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a plain `kill` still removes the temp folder
    var_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-bandit-decide-"))
    try:
        django_embedded_setup(var_dir, hero_strategy="rules")
        result = run(args.calls, args.warmup)
    finally:
        if "django.db" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
            from django.db import connections

            connections.close_all()  # before deleting the SQLite file under var_dir
        shutil.rmtree(var_dir, ignore_errors=True)

    ratio_fixed = result["bandit_median_ms"] / result["fixed_median_ms"]
    ratio_rules = result["bandit_median_ms"] / result["rules_median_ms"]
    correct = not result["wrong"] and result["queries"] == 0
    met = result["bandit_median_ms"] < TARGET_MEDIAN_MS and result["bandit_p99_ms"] < TARGET_P99_MS
    command = ".venv/bin/python bench/bandit_decide.py" + (f" --calls {args.calls}" if args.calls != 20_000 else "")

    print(f"decide() on a bandit slot  ({now_utc()}, {machine()}, {versions()})")
    print(f"  home-hero as a bandit over segments {result['segments']} + the rest of the slot; allocations:")
    for segment, allocation in result["allocations"].items():
        shares = ", ".join(f"{key} {p:.3f}" for key, p in allocation.probabilities.items())
        print(f"    {segment or '(slot)':<11} {allocation.method:<11} draws {allocation.draws:>6}  {shares}")
    print(
        f"  {result['calls']} timed calls of each slot, interleaved, after {result['warmup']} warm-up; {result['wall_s']:.1f} s"
    )
    for name in ("bandit", "rules", "fixed"):
        print(f"  {name:<7} median {result[f'{name}_median_ms']:.4f} ms  p99 {result[f'{name}_p99_ms']:.4f} ms")
    print(
        f"  BanditPolicy.choose alone: median {result['choose_median_ms']:.4f} ms  p99 {result['choose_p99_ms']:.4f} ms"
    )
    print(f"  ratio bandit / fixed (medians): {ratio_fixed:.2f};  bandit / rules: {ratio_rules:.2f}")
    print("  bandit variants chosen, by reason:")
    for (reason, variant), count in sorted(result["chosen"].items()):
        print(f"    {reason:<18} -> {variant:<18} x{count}")
    print(f"  SQL queries while timing: {result['queries']};  wrong decisions: {len(result['wrong'])}")
    for line in result["wrong"][:10]:
        print(f"    WRONG: {line}")
    print(
        f"  target median < {TARGET_MEDIAN_MS} ms and p99 < {TARGET_P99_MS} ms: {yes_no(met)};"
        f"  results correct: {yes_no(correct)}"
    )
    print()
    print(
        "| date | machine | versions | command | calls (each) | bandit median ms | bandit p99 ms | rules median ms"
        " | fixed median ms | fixed p99 ms | ratio bandit/fixed | ratio bandit/rules | choose() median ms"
        " | choose() p99 ms | correct | target met |"
    )
    print("|" + "---|" * 16)
    cells = [
        now_utc(),
        machine(),
        versions(),
        f"`{command}`",
        result["calls"],
        f"{result['bandit_median_ms']:.4f}",
        f"{result['bandit_p99_ms']:.4f}",
        f"{result['rules_median_ms']:.4f}",
        f"{result['fixed_median_ms']:.4f}",
        f"{result['fixed_p99_ms']:.4f}",
        f"{ratio_fixed:.2f}",
        f"{ratio_rules:.2f}",
        f"{result['choose_median_ms']:.4f}",
        f"{result['choose_p99_ms']:.4f}",
        yes_no(correct),
        yes_no(met),
    ]
    print("| " + " | ".join(str(cell) for cell in cells) + " |")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
