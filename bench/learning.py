"""Does the model strategy choose better than chance? Simulated traffic with known truth.

Runs ``manage.py simulate_traffic`` on a fresh embedded database: visitors of
hidden types go through the real decide() and event ingest, phase 1 explores,
the model is trained, phase 2 serves it. The baseline in the same run is
uniform random (phase 1's policy); the ceiling is the oracle. Targets: at least
1.5x uniform and 80 % of the oracle after one retraining.

    .venv/bin/python bench/learning.py [--visitors 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, now_utc, results_append, versions, yes_no  # noqa: E402
from personalization.results.wording import lift_words  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tailor-learning-") as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        env.update({"TAILOR_VAR_DIR": folder, "LOG_LEVEL": "WARNING"})
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        started = time.monotonic()
        out = subprocess.run(
            [*manage, "simulate_traffic", "--visitors", str(args.visitors), "--seed", str(args.seed), "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        seconds = time.monotonic() - started
    result = json.loads(out)
    lift, fraction = result["lift_over_uniform"], result["fraction_of_oracle"]
    met = lift >= 1.5 and fraction >= 0.8
    found = result["clusters"]
    clusters = "none" if "error" in found else f"k={found['k']}, ARI {found['adjusted_rand_index']:.2f}"
    print(
        f"uniform {result['uniform_ctr']:.4f}, oracle {result['oracle_ctr']:.4f}; phase 1 expected "
        f"{result['phase1']['expected_ctr']:.4f}; phase 2 expected {result['phase2']['expected_ctr']:.4f} "
        f"(realised {result['phase2']['realised_ctr']:.4f}): {lift_words(lift, 'uniform random')}, {fraction:.0%} of oracle "
        f"in {seconds:.0f} s; target met: {yes_no(met)}; behaviour clusters: {clusters}"
    )
    if not args.no_record:
        results_append(
            "learning",
            [
                "date",
                "machine",
                "versions",
                "command",
                "visitors/phase",
                "seed",
                "uniform CTR",
                "oracle CTR",
                "phase 1 expected CTR",
                "phase 2 expected CTR",
                "phase 2 realised CTR",
                "lift over uniform",
                "fraction of oracle",
                "AUC",
                "behaviour clusters: k, adjusted Rand index vs hidden types",
                "seconds",
                "target met",
            ],
            [
                [
                    now_utc(),
                    machine(),
                    versions(),
                    f"`.venv/bin/python bench/learning.py --visitors {args.visitors} --seed {args.seed}`",
                    args.visitors,
                    args.seed,
                    f"{result['uniform_ctr']:.4f}",
                    f"{result['oracle_ctr']:.4f}",
                    f"{result['phase1']['expected_ctr']:.4f}",
                    f"{result['phase2']['expected_ctr']:.4f}",
                    f"{result['phase2']['realised_ctr']:.4f}",
                    f"{lift:.2f}",
                    f"{fraction:.2f}",
                    f"{result['training']['auc']:.3f}",
                    clusters,
                    f"{seconds:.0f}",
                    yes_no(met),
                ]
            ],
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
