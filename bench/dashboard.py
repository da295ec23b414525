"""How long does the results dashboard take for a slot with 10,000,000 rolled-up decisions?

``VariantDay`` rows standing for ``--decisions`` (default 10,000,000) decisions of one slot
(4 variants × 365 days, a weighted split), beside 49 other slots' rows (4 variants × 365
days each), so the table holds 73,000 rows as a busy site's would. An admin user then opens
``/admin/tailor/results/<slot>/?days=365`` through Django's test client (middleware, Wagtail's
admin, the selectors, the statistics, the two SVG charts and the template), interleaved
A B C ``--requests`` times after a warm-up with two baselines measured in the same run:

- B: the bare ``slot_results(...)`` call over the same window (what the results API computes);
- C: an empty Wagtail admin page (the Models screen with no model), the admin's own floor.

Each dashboard response is checked: status 200, both charts, the verdict that ``slot_results``
words, and the window's decisions summing to what was seeded. Target: dashboard p99 < 300 ms.
Embedded SQLite in a throwaway directory by default; ``--postgres`` uses ``DATABASE_URL``
(run it under ``python -m devtools.services run -- ...``). Prints its figures; ``--record``
also appends them to ``bench/RESULTS.md``.

    .venv/bin/python bench/dashboard.py [--decisions 10000000] [--requests 100]
    .venv/bin/python -m devtools.services run -- .venv/bin/python bench/dashboard.py --postgres
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
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

TARGET_MS = 300.0
KEY = "bench-big"
VARIANTS = ("a", "b", "c", "d")
DAYS = 365
OTHER_SLOTS = 49


def rows_seed(total_decisions: int, seed: int) -> int:
    """The measured slot's rows summing to exactly ``total_decisions``, and the other slots'; returns the sum."""
    from personalization.models import VariantDay
    from tests.factories.slots import slot_create

    slot_create(KEY, strategy="split", variants=[(v, 1) for v in VARIANTS], default="a")
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(DAYS)]
    cells = len(VARIANTS) * len(days)
    base, extra = divmod(total_decisions, cells)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows, seeded, cell = [], 0, 0
    for s in range(OTHER_SLOTS + 1):
        slot = KEY if s == 0 else f"other-{s}"
        for index, variant in enumerate(VARIANTS):
            for day in days:
                if s == 0:
                    n = base + (1 if cell < extra else 0)
                    cell += 1
                    seeded += n
                else:
                    n = 1000
                visitors = n // 3
                rate = 0.04 + 0.002 * index
                clicked = min(visitors, int(visitors * rate * rng.uniform(0.9, 1.1)))
                value = clicked / 5 * 30.0
                rows.append(
                    VariantDay(
                        slot_key=slot,
                        variant_key=variant,
                        day=day,
                        decisions=n,
                        impressions=int(n * 0.75),
                        clicks=clicked,
                        conversions=clicked // 5,
                        visitors_seen=visitors,
                        visitors=visitors,
                        visitors_clicked=clicked,
                        visitors_converted=clicked // 5,
                        value_sum=value,
                        value_squares=value * 30.0,
                        dwell_sum=visitors * 6.0,
                        dwell_squares=visitors * 80.0,
                        updated_at=now,
                    )
                )
    VariantDay.objects.bulk_create(rows, batch_size=2000)
    return seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-dashboard-"))
    try:
        django_database_setup(var_dir, postgres=args.postgres)
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        from personalization.results.dashboard import slot_dashboard
        from personalization.results.selectors import slot_results, window_days

        database = connection.vendor + (
            f" {connection.Database.sqlite_version}" if connection.vendor == "sqlite" else ""
        )
        began = time.perf_counter()
        seeded = rows_seed(args.decisions, args.seed)
        print(f"seeded {seeded:,} decisions of {KEY} in {time.perf_counter() - began:.1f} s", flush=True)

        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-0123")
        client = Client()
        client.force_login(user)
        dashboard_url = f"/admin/tailor/results/{KEY}/?days={DAYS}"
        empty_url = "/admin/tailor/models/"
        start, end = window_days(DAYS)
        expected = slot_results(KEY, start, end)
        check = slot_dashboard(KEY, days=DAYS, every_figure=True)
        correct = sum(row.decisions for row in check.rows) == seeded == args.decisions

        def dashboard() -> None:
            nonlocal correct
            response = client.get(dashboard_url)
            html = response.content.decode()
            ok = response.status_code == 200 and html.count("<svg") >= 2 and "data-verdict" in html
            # The verdict as the page shows it (escaped by the template) is the one slot_results words.
            correct = correct and ok and expected["verdict"].split(":")[0] in html

        def bare() -> None:
            assert slot_results(KEY, start, end)["verdict"] == expected["verdict"]

        def empty() -> None:
            assert client.get(empty_url).status_code == 200

        for _ in range(5):
            dashboard()
            bare()
            empty()
        timings: dict[str, list[float]] = {"dashboard": [], "slot_results": [], "empty admin page": []}
        for _ in range(args.requests):
            for name, call in (("dashboard", dashboard), ("slot_results", bare), ("empty admin page", empty)):
                t = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - t) * 1000)

        figures = {name: (statistics.median(ms), percentile(ms, 99)) for name, ms in timings.items()}
        for name, (p50, p99) in figures.items():
            print(f"{name}: median {p50:.1f} ms, p99 {p99:.1f} ms ({args.requests} requests)")
        d50, d99 = figures["dashboard"]
        r50, _ = figures["slot_results"]
        e50, _ = figures["empty admin page"]
        print(f"dashboard / slot_results = {d50 / r50:.2f}, dashboard / empty admin page = {d50 / e50:.2f}")
        print(f"checked: {correct}; target p99 < {TARGET_MS:.0f} ms: {yes_no(d99 < TARGET_MS and correct)}")
        print(f"verdict: {expected['verdict']}")
        if args.record:
            results_append(
                "Results dashboard",
                RATIO_COLUMNS,
                [
                    [
                        now_utc(),
                        machine(),
                        versions(),
                        database,
                        f"`{' '.join(['.venv/bin/python', 'bench/dashboard.py', *sys.argv[1:]])}`",
                        f"GET the results dashboard, {seeded:,} rolled-up decisions ({DAYS} days × 4 variants),"
                        f" {OTHER_SLOTS + 1} slots in the table",
                        f"median {d50:.1f} ms, p99 {d99:.1f} ms ({args.requests} requests, in-process client)",
                        f"slot_results median {r50:.1f} ms; empty admin page median {e50:.1f} ms",
                        f"dashboard / slot_results = {d50 / r50:.2f}; / empty page = {d50 / e50:.2f}",
                        yes_no(correct),
                        f"< {TARGET_MS:.0f} ms",
                        yes_no(d99 < TARGET_MS and correct),
                    ]
                ],
            )
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
