"""Does one thread per small prediction keep decide()'s tail short on a busy server?

A model decision predicts a handful of rows (one visitor x each variant). LightGBM
would run that on OpenMP's default threads (every core); in a web server, several
worker processes predict at once and their threads fight for the same cores.
``RewardModel.predict_matrix`` runs predictions of up to ``SERVING_ROWS`` rows on one
thread. This measures both settings on the same 200-tree model and 4-row inputs, with
1 process (an idle server) and with 2 processes per core predicting at once (as
gunicorn workers would), in alternating rounds, and compares the p99 latency.

Target: with 2 processes per core, p99 on one thread at most half of LightGBM's default.

Run:  .venv/bin/python bench/predict_threads.py [--calls 3000] [--rounds 3] [--no-record]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine, now_utc, percentile, results_append, versions, yes_no  # noqa: E402

FEATURES = 27
ROWS = 4  # one visitor, four variants


def model() -> lgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, FEATURES))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0).astype(float)
    params = {"objective": "binary", "verbose": -1, "num_threads": 2, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=200)
    return lgb.Booster(model_str=booster.model_to_string())  # as served: reloaded from its text


def _worker(threads: int | None, calls: int, start: multiprocessing.synchronize.Barrier, out: Any) -> None:
    booster = model()
    rng = np.random.default_rng(os.getpid())
    inputs = [rng.normal(size=(ROWS, FEATURES)) for _ in range(100)]
    kwargs = {"num_threads": threads} if threads else {}
    for x in inputs * 5:  # warm-up
        booster.predict(x, **kwargs)
    start.wait()
    times = []
    for i in range(calls):
        began = time.perf_counter()
        booster.predict(inputs[i % len(inputs)], **kwargs)
        times.append((time.perf_counter() - began) * 1000)
    out.put(times)


def measure(processes: int, threads: int | None, calls: int) -> list[float]:
    """``processes`` processes predicting at once, each ``calls`` times; every latency in ms."""
    # Spawned, not forked: a fork of a process whose OpenMP pool is running deadlocks in the child.
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    out: Any = context.Queue()
    workers = [context.Process(target=_worker, args=(threads, calls, start, out)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    times = [t for _ in workers for t in out.get()]
    for worker in workers:
        worker.join()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    booster = model()
    x = np.random.default_rng(1).normal(size=(ROWS, FEATURES))
    identical = bool(np.array_equal(booster.predict(x, num_threads=1), booster.predict(x)))
    rows = []
    met = False
    cores = os.cpu_count() or 2
    for processes in (1, 2 * cores):
        times: dict[str, list[float]] = {"one thread": [], "default": []}
        for _ in range(args.rounds):
            times["one thread"] += measure(processes, 1, args.calls)
            times["default"] += measure(processes, None, args.calls)
        one_med, one_p99 = percentile(times["one thread"], 50), percentile(times["one thread"], 99)
        default_med, default_p99 = percentile(times["default"], 50), percentile(times["default"], 99)
        ratio = default_p99 / one_p99
        if processes > 1:
            met = ratio >= 2.0
        load = f"{processes} process{'es' if processes > 1 else ''} predicting at once on {cores} cores"
        print(
            f"{load}: one thread median {one_med:.4f} ms p99 {one_p99:.4f} ms; "
            f"LightGBM default median {default_med:.4f} ms p99 {default_p99:.4f} ms; p99 ratio {ratio:.1f}x"
        )
        rows.append(
            [
                now_utc(),
                machine(),
                versions(),
                "`.venv/bin/python bench/predict_threads.py`",
                load,
                f"{args.calls} calls per process, {args.rounds} rounds A B alternating",
                f"median {one_med:.4f} ms, p99 {one_p99:.4f} ms",
                f"median {default_med:.4f} ms, p99 {default_p99:.4f} ms",
                f"{ratio:.1f}x (p99)",
                yes_no(identical),
                "p99 at most half the default's with 2 processes per core",
                yes_no(met) if processes > 1 else "–",
            ]
        )
    if not args.no_record:
        results_append(
            "predict threads",
            [
                "date",
                "machine",
                "versions",
                "command",
                "load",
                "calls",
                "4-row predict, one thread (served)",
                "4-row predict, LightGBM default threads (baseline)",
                "baseline / served",
                "same predictions",
                "target",
                "met",
            ],
            rows,
        )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
