"""Shared helpers for the benchmark scripts: machine facts, percentiles and ``bench/RESULTS.md``.

Every script appends one or more rows to its own table in ``RESULTS.md`` and never rewrites
old rows, so the file shows the trend across runs. Standard library only, so a script can
use it before Django is configured.
"""

from __future__ import annotations

import io
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"

RESULTS_HEADER = """\
# Benchmark results

Appended by the scripts in `bench/`; old rows are kept so the trend stays visible. Each row
is one run on one machine; compare ratios, not absolute figures, across machines.

- **render** (`bench/render.py`): requests per second of `/bench/personalized/` (three slots:
  rules, weighted split, fixed) against `/bench/static/` (the same three blocks, plain)
  served by gunicorn (`config.wsgi`, 2 sync workers) with real PostgreSQL and Redis, loaded
  by `wrk -t1 -c4` on loopback from the same machine (so latency includes waiting for a
  free worker), in rounds of 1 s alternated A B, B A, ... Ratio = median over the
  counted pairs of personalized/static req/s. A pair counts only if other processes took
  at most 0.3 cores during both of its rounds ("other work", measured from /proc); with
  fewer than 5 such pairs the verdict says "inconclusive" and the figures come from all
  pairs. Targets: ratio >= 0.85 with the demo's 3 segments; with 30 segments in front of
  the home-hero rules, ratio within 5 % of the 3-segment ratio; the personalized page adds
  at most one SQL query and no write. Latencies are the median over rounds of each round's
  p50 and p99. CPU ms/request is gunicorn + PostgreSQL + Redis CPU time per response; the
  CPU-based ratio is static/personalized of it, a cross-check that moves less with load.
- **decide** (`bench/decide.py`): one in-process `decide("home-hero", ...)` call (rules
  policy, four variants, three segments) on the embedded settings (SQLite, locmem cache),
  decisions queued on a request as the request path does, over varied visitors and
  contexts; interleaved call by call with `decide("product-offer", ...)` (fixed policy) as
  the baseline. Targets: median < 0.2 ms and p99 < 1 ms per call.
"""


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}"


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _commit() -> str:
    """Short commit of the code measured, with "+changes" when the working tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "no git"
    return head + ("+changes" if dirty else "")


def versions() -> str:
    return (
        f"Python {platform.python_version()}, Django {_version('Django')}, Wagtail {_version('wagtail')},"
        f" commit {_commit()}"
    )


def now_utc() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation), so p99 is a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def yes_no(flag: bool) -> str:
    return "yes" if flag else "NO"


def results_append(section: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Append ``rows`` to the table under ``## {section}`` in RESULTS.md, creating what is missing."""
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    lines = text.rstrip("\n").split("\n")
    heading = f"## {section}"
    new_rows = ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    if heading not in lines:
        lines += [
            "",
            heading,
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "|".join("---" for _ in columns) + "|",
            *new_rows,
        ]
    else:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        table = [i for i in range(start + 1, end) if lines[i].startswith("|")]
        insert_at = (table[-1] + 1) if table else end
        lines[insert_at:insert_at] = new_rows
    RESULTS.write_text("\n".join(lines) + "\n")


# The columns of a table whose rows state a figure against a baseline measured in the same run.
RATIO_COLUMNS = (
    "date",
    "machine",
    "versions",
    "database",
    "command",
    "workload",
    "figure",
    "baseline",
    "ratio",
    "checked",
    "target",
    "met",
)


def django_database_setup(var_dir: Path, *, postgres: bool) -> None:
    """Django with no cache or broker services, on SQLite in ``var_dir`` or on ``DATABASE_URL``'s PostgreSQL; migrated."""
    if not postgres:
        os.environ.pop("DATABASE_URL", None)
    elif not os.environ.get("DATABASE_URL"):
        sys.exit("--postgres needs DATABASE_URL: run under python -m devtools.services run -- ...")
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "TAILOR_DECISION_LOG_BACKEND"):
        os.environ.pop(name, None)
    os.environ["TAILOR_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def django_embedded_setup(var_dir: Path, *, hero_strategy: str = "model") -> None:
    """Django on the embedded default (no services) in a throwaway ``var_dir``, migrated and seeded."""
    django_database_setup(var_dir, postgres=False)
    from django.core.management import call_command

    call_command("seed_demo", "--hero-strategy", hero_strategy, stdout=io.StringIO())
