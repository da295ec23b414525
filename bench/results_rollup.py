"""How long does the results rollup take for 1,000,000 decisions, and the results endpoint on 10,000,000?

1. Rollup: a synthetic log of ``--decisions`` decisions (default 1,000,000; 250,000 visitors
   over 7 days, two weighted-split slots, sticky variants) with their events (impressions for
   75 % of decisions, clicks, dwell and conversions), bulk-inserted; then
   ``results_rollup(since=first day)`` re-rolls all of it, against the baseline of recomputing
   one slot's visitor-level figures straight from the raw rows (every decision and event of
   the slot read and attributed in Python, what a request would do without rollups), A B
   interleaved ``--rounds`` times. Each decision's context carries the visitor's visit number
   (``visit_count``, rising over their decisions; returning visitors click more), so the rollup
   extracts CUPED's covariate (prior visits, capped) from it in SQL. Each round checks the
   rollup's per-variant visitors, clickers and covariate sums (Σx, Σx², Σx·clicked) equal the
   baseline's, which parses every context in Python. Each conversion is recorded under one of two
   goals (``props.goal``), so the rollup also writes per-goal rows (``GoalDay``); each round also
   checks every variant's goal values add up to its value of all conversions. Target: the rollup
   under 30 s.
2. Endpoint: ``VariantDay`` rows standing for ``--endpoint-decisions`` (default 10,000,000)
   rolled-up decisions (50 slots × 4 variants × 90 days, the measured slot holding 10,000,000
   decisions alone), then ``GET /api/v1/slots/<key>/results/?days=90`` through Django's test
   client with the bearer token (middleware, DRF, the selector and the statistics, CUPED
   included: the rows carry covariate sums), after a warm-up, ``--requests`` times. Target: p99
   under 300 ms.

Embedded SQLite in a throwaway directory by default; with ``--postgres`` the database of
``DATABASE_URL`` (run it under ``python -m devtools.services run -- ...``).

    .venv/bin/python bench/results_rollup.py [--decisions 1000000] [--rounds 3] [--no-record]
    .venv/bin/python -m devtools.services run -- .venv/bin/python bench/results_rollup.py --postgres
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    RATIO_COLUMNS,
    django_database_setup,
    machine,
    now_utc,
    percentile,
    results_append,
    versions,
    yes_no,
)

TARGET_ROLLUP_SECONDS = 30.0
TARGET_ENDPOINT_MS = 300.0
START = datetime(2026, 11, 1, tzinfo=UTC)
SLOTS = {"bench-hero": {"a": 0.04, "b": 0.05, "c": 0.06}, "bench-offer": {"x": 0.03, "y": 0.035}}
GOALS = ("signup", "order")  # every conversion is one of these goals' (props.goal)
TOKEN = "bench-results-token"  # noqa: S105 - a throwaway database's setting


def django_setup(var_dir: Path, *, postgres: bool) -> None:
    os.environ["TAILOR_RESULTS_API_TOKEN"] = TOKEN
    django_database_setup(var_dir, postgres=postgres)


def slots_publish() -> None:
    from tests.factories.slots import slot_create

    for key, variants in SLOTS.items():
        slot_create(key, strategy="split", variants=[(v, 1) for v in variants], default=next(iter(variants)))


def log_generate(decisions: int, seed: int) -> tuple[int, int]:
    """Insert the synthetic log with plain multi-row INSERTs (the ORM's bulk_create is 20x slower); returns counts."""
    from django.db import connection, transaction

    sqlite = connection.vendor == "sqlite"

    def uid(value: uuid.UUID) -> object:
        return value.hex if sqlite else value

    def moment(value: datetime) -> object:
        return value.replace(tzinfo=None).isoformat(" ") if sqlite else value

    decision_sql = (
        "INSERT INTO tracking_decisionlog (id, created_at, visitor_id, slot_key, variant_key, revision_id, policy,"
        " policy_version, propensity, reason, context, is_bot) VALUES (%s, %s, %s, %s, %s, NULL, 'split', '', %s,"
        " '', %s, %s)"
    )
    event_sql = (
        "INSERT INTO tracking_event (id, visitor_id, decision_id, type, ts, received_at, stored_at, value, props,"
        " is_bot, ip_prefix) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '')"
    )
    rng = random.Random(seed)
    span = 7 * 24 * 3600
    pending_d: list[tuple] = []
    pending_e: list[tuple] = []
    made_d = made_e = 0

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(decision_sql, pending_d)
            cursor.executemany(event_sql, pending_e)
        pending_d.clear()
        pending_e.clear()

    def add_event(visitor, kind, ts, decision_id=None, value=None, props="{}") -> None:
        nonlocal made_e
        at = moment(ts)
        pending_e.append((uid(uuid.uuid4()), uid(visitor), decision_id, kind, at, at, at, value, props, False))
        made_e += 1

    while made_d < decisions:
        visitor = uuid.uuid4()
        arms = {slot: rng.choice(list(variants)) for slot, variants in SLOTS.items()}
        visits = 1 + min(int(rng.expovariate(1 / 2)), 80)  # their visit number at the first decision
        moments = sorted(START + timedelta(seconds=rng.randrange(span)) for _ in range(rng.randint(1, 7)))
        for i, at in enumerate(moments[: decisions - made_d]):
            slot = rng.choice(list(SLOTS))
            variant = arms[slot]
            decision_id = uid(uuid.uuid4())
            # A context as serving logs it (Context.snapshot()), the visit number rising over the week.
            context = (
                f'{{"device": "desktop", "browser": "Chrome", "os": "Windows", "hour": {at.hour},'
                f' "weekday": {at.weekday()}, "visit_count": {visits + i}, "is_returning": {str(visits + i > 1).lower()}}}'
            )
            prior = min(visits + i - 1, 10)
            pending_d.append(
                (decision_id, moment(at), uid(visitor), slot, variant, 1 / len(SLOTS[slot]), context, False)
            )
            made_d += 1
            if rng.random() < 0.75:
                add_event(visitor, "impression", at + timedelta(seconds=1), decision_id)
                if rng.random() < SLOTS[slot][variant] * (1 + 0.15 * prior):  # returning visitors click more
                    add_event(visitor, "click", at + timedelta(seconds=4), decision_id)
                if rng.random() < 0.3:
                    add_event(visitor, "dwell", at + timedelta(seconds=9), decision_id, rng.uniform(500, 20_000))
                if rng.random() < 0.01:
                    goal = f'{{"goal": "{rng.choice(GOALS)}"}}'
                    add_event(visitor, "conversion", at + timedelta(minutes=2), None, rng.uniform(20, 100), goal)
        if len(pending_d) >= 20_000:
            flush()
    flush()
    return made_d, made_e


def prior_visits(context: object) -> float:
    """The rollup's covariate, in Python: visit_count - 1 when it is a number, within 0..cap; else 0."""
    from personalization.results.rollup import PRIOR_VISITS_CAP, PRIOR_VISITS_KEY

    value = context.get(PRIOR_VISITS_KEY) if isinstance(context, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(min(max(value - 1, 0), PRIOR_VISITS_CAP))


Figures = tuple[int, int, float, float, float]  # visitors, clickers, Σx, Σx², Σx·clicked


def raw_recompute(slot_key: str, window_seconds: float) -> dict[str, Figures]:
    """Baseline: one slot's visitors exposed, visitors who clicked and CUPED's sums per variant, from the raw rows."""
    from tracking.models import DecisionLog, Event

    decisions = defaultdict(list)  # visitor -> [(created_at, variant, id, prior visits)]
    ids = {}
    for decision_id, visitor, variant, at, context in (
        DecisionLog.objects.filter(slot_key=slot_key, is_bot=False)
        .values_list("id", "visitor_id", "variant_key", "created_at", "context")
        .iterator(chunk_size=10_000)
    ):
        decisions[visitor].append((at, variant, decision_id, prior_visits(context)))
        ids[decision_id] = visitor
    seen, clicked = set(), set()
    for kind, decision_id in (
        Event.objects.filter(type__in=("impression", "click"), is_bot=False, decision_id__isnull=False)
        .values_list("type", "decision_id")
        .iterator(chunk_size=10_000)
    ):
        if decision_id in ids:
            (seen if kind == "impression" else clicked).add(decision_id)
    window = timedelta(seconds=window_seconds)
    figures: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0.0])
    for rows in decisions.values():
        rows.sort(key=lambda row: row[0])
        for variant in {v for _, v, _, _ in rows}:
            mine = [(at, d, x) for at, v, d, x in rows if v == variant]
            first = next(((at, x) for at, d, x in mine if d in seen), None)
            if first is None:
                continue
            exposed_at, x = first
            click = any(exposed_at <= at <= exposed_at + window and d in clicked for at, d, _ in mine)
            sums = figures[variant]
            sums[0] += 1
            sums[1] += click
            sums[2] += x
            sums[3] += x * x
            sums[4] += x * click
    return {variant: (int(n), int(c), sx, sxx, sxc) for variant, (n, c, sx, sxx, sxc) in figures.items()}


def rollup_figures(slot_key: str) -> dict[str, Figures]:
    from django.db.models import Sum

    from personalization.models import VariantDay

    rows = (
        VariantDay.objects.filter(slot_key=slot_key)
        .values("variant_key")
        .annotate(
            n=Sum("visitors"),
            c=Sum("visitors_clicked"),
            sx=Sum("pre_sum"),
            sxx=Sum("pre_squares"),
            sxc=Sum("pre_cross_clicked"),
        )
    )
    return {row["variant_key"]: (row["n"], row["c"], row["sx"], row["sxx"], row["sxc"]) for row in rows if row["n"]}


def goal_values_add_up(slot_key: str) -> bool:
    """Every conversion has a goal: per variant, the goals' values sum to the value of all conversions."""
    from django.db.models import Sum

    from personalization.models import GoalDay, VariantDay

    def by_variant(rows) -> dict[str, float]:
        return {row["variant_key"]: row["v"] or 0.0 for row in rows.values("variant_key").annotate(v=Sum("value_sum"))}

    goals = by_variant(GoalDay.objects.filter(slot_key=slot_key).exclude(variant_key=""))
    every = {key: value for key, value in by_variant(VariantDay.objects.filter(slot_key=slot_key)).items() if value}
    return bool(goals) and goals.keys() == every.keys() and all(math.isclose(goals[k], every[k]) for k in every)


def endpoint_rows(total_decisions: int) -> str:
    """VariantDay rows for 50 slots × 4 variants × 90 days; the first slot alone holds ``total_decisions``."""
    from personalization.models import VariantDay
    from tests.factories.slots import slot_create

    key = "bench-big"
    slot_create(key, strategy="split", variants=[(v, 1) for v in "abcd"], default="a")
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(90)]
    per_row = total_decisions // (4 * len(days))
    rows = []
    rng = random.Random(7)
    for s in range(50):
        slot = key if s == 0 else f"other-{s}"
        for variant in "abcd":
            for day in days:
                n = per_row if s == 0 else 1000
                visitors = n // 3
                clicked = int(visitors * (0.04 + 0.004 * "abcd".index(variant)) * rng.uniform(0.9, 1.1))
                value = visitors * 0.5
                rows.append(
                    VariantDay(
                        slot_key=slot,
                        variant_key=variant,
                        day=day,
                        decisions=n,
                        impressions=int(n * 0.75),
                        clicks=clicked,
                        visitors_seen=visitors,
                        visitors=visitors,
                        visitors_clicked=clicked,
                        visitors_converted=clicked // 5,
                        value_sum=value,
                        value_squares=value * 40,
                        dwell_sum=visitors * 6.0,
                        dwell_squares=visitors * 80.0,
                        pre_sum=visitors * 2.0,  # CUPED's covariate: 2 prior visits on average
                        pre_squares=visitors * 10.0,
                        pre_cross_clicked=clicked * 3.0,
                        updated_at=datetime.now(UTC),
                    )
                )
    VariantDay.objects.bulk_create(rows, batch_size=2000)
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint-decisions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-results-"))
    try:
        django_setup(var_dir, postgres=args.postgres)
        from django.db import connection
        from django.test import Client

        from personalization.models import GoalDay, VariantDay
        from personalization.results.rollup import results_rollup
        from tracking.conf import setting as tracking_setting

        database = f"{connection.vendor} {connection.Database.sqlite_version if connection.vendor == 'sqlite' else ''}"
        slots_publish()
        began = time.perf_counter()
        made_d, made_e = log_generate(args.decisions, args.seed)
        print(f"log: {made_d:,} decisions, {made_e:,} events in {time.perf_counter() - began:.1f} s", flush=True)
        window = float(tracking_setting("ATTRIBUTION_WINDOW_SECONDS"))

        rollup_s, raw_s, correct = [], [], True
        first_day: date = START.date()
        for r in range(args.rounds):
            VariantDay.objects.all().delete()
            GoalDay.objects.all().delete()
            t = time.perf_counter()
            report = results_rollup(since=first_day)
            rollup_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw = raw_recompute("bench-hero", window)
            raw_s.append(time.perf_counter() - t)
            rolled = rollup_figures("bench-hero")
            ok = rolled == raw and report.decisions == made_d and goal_values_add_up("bench-hero")
            correct = correct and ok
            print(
                f"round {r + 1}: rollup {rollup_s[-1]:.1f} s ({report.decisions:,} decisions, {report.rows} rows),"
                f" raw recompute of one slot {raw_s[-1]:.1f} s, figures equal: {ok}",
                flush=True,
            )
        again = results_rollup(since=first_day)  # idempotent: a re-run leaves the same figures
        correct = correct and rollup_figures("bench-hero") == raw and again.decisions == made_d
        from personalization.results.selectors import slot_results

        hero = slot_results("bench-hero", first_day, first_day + timedelta(days=6))
        print(f"bench-hero: CUPED {hero['cuped']}", flush=True)

        key = endpoint_rows(args.endpoint_decisions)
        client = Client()
        url = f"/api/v1/slots/{key}/results/?days=90"
        headers = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
        for _ in range(10):
            assert client.get(url, **headers).status_code == 200
        latencies = []
        for _ in range(args.requests):
            t = time.perf_counter()
            response = client.get(url, **headers)
            latencies.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        body = response.json()
        rolled_decisions = sum(VariantDay.objects.filter(slot_key=key).values_list("decisions", flat=True))
        endpoint_ok = sum(v["visitors"] for v in body["variants"]) > 0 and body["cuped"]["applied"]
        p50, p99 = statistics.median(latencies), percentile(latencies, 99)
        print(f"endpoint: {rolled_decisions:,} rolled-up decisions, median {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"verdict: {body['verdict']}")

        median_rollup, median_raw = statistics.median(rollup_s), statistics.median(raw_s)
        rows = [
            [
                now_utc(),
                machine(),
                versions(),
                database.strip(),
                f"`{' '.join(['.venv/bin/python', 'bench/results_rollup.py', *sys.argv[1:]])}`",
                f"{made_d:,} decisions, {made_e:,} events, 2 slots, 7 days",
                f"rollup of everything: median {median_rollup:.1f} s (max {max(rollup_s):.1f} s, {args.rounds} rounds)",
                f"raw recompute of one slot: median {median_raw:.1f} s",
                f"rollup / raw = {median_rollup / median_raw:.2f}",
                yes_no(correct),
                f"< {TARGET_ROLLUP_SECONDS:.0f} s",
                yes_no(max(rollup_s) < TARGET_ROLLUP_SECONDS and correct),
            ],
            [
                now_utc(),
                machine(),
                versions(),
                database.strip(),
                f"`{' '.join(['.venv/bin/python', 'bench/results_rollup.py', *sys.argv[1:]])}`",
                f"GET results, {rolled_decisions:,} rolled-up decisions (90 days × 4 variants), 50 slots in the table",
                f"median {p50:.1f} ms, p99 {p99:.1f} ms ({args.requests} requests, in-process client)",
                f"raw recompute per request: median {median_raw:.1f} s for {made_d:,} decisions",
                f"endpoint / raw = {p50 / 1000 / median_raw:.4f}",
                yes_no(endpoint_ok),
                f"< {TARGET_ENDPOINT_MS:.0f} ms",
                yes_no(p99 < TARGET_ENDPOINT_MS and endpoint_ok),
            ],
        ]
        if not args.no_record:
            results_append(
                "Results: rollup and endpoint",
                RATIO_COLUMNS,
                rows,
            )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
