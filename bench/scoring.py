"""How fast does the reward model score: visitor x variant scores per second in batch, and one decision?

Three measurements in one run, each against its baseline in the same run, interleaved:

1. Batch: ``RewardModel.score(contexts, variants)`` for 250,000 varied visitors x 4 variants
   (1,000,000 scores), against the dict path it replaces, ``RewardModel.predict([row_features(c, v)
   for c in contexts for v in variants])`` on the same inputs, A B A B after one warm-up of each.
   Both are timed from the same inputs (contexts and variants) to the scores, so the dict path
   includes building its rows; its predict() share is shown apart. Every repetition's scores are
   checked against the first baseline's (np.allclose, and whether they are bit-identical).
   Target: 1,000,000 scores in under 5 s.
2. Engine: ``ModelPolicy.choose(candidates, context, rng)`` with the trained model and 4 variants,
   call by call against ``FixedPolicy.choose``, over varied contexts; every model choice is checked
   against the batch scores (reason "model" means the batch's best variant, with its propensity).
   Target: median < 0.5 ms and p99 < 2 ms per call.
3. Service (skip with ``--no-django``): the real in-process ``decide("home-hero", ...)`` with a model
   trained by ``personalization.learning.training.model_train`` on 2,000 simulated visitors, on the embedded
   settings (SQLite under a temp ``TAILOR_VAR_DIR``, locmem cache), decisions queued on a stand-in
   request; call by call against ``decide("product-offer", ...)`` (fixed policy, demo seed).
   Same targets as 2.

The model is LightGBM's, trained here on a synthetic log with known click rates (device and traffic
source x variant). LightGBM is pinned to 2 threads (``OMP_NUM_THREADS=2``, set before it loads).

Run:  .venv/bin/python bench/scoring.py                 (about 2 min; appends to bench/RESULTS.md)
      .venv/bin/python bench/scoring.py --visitors 50000 --calls 5000 --no-record   (quick look)
"""

from __future__ import annotations

import os

# LightGBM's OpenMP reads this when it loads; both paths then predict on the same 2 threads.
os.environ["OMP_NUM_THREADS"] = "2"

import argparse  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lightgbm  # noqa: E402
import numpy as np  # noqa: E402

from bench._common import django_embedded_setup, machine, now_utc, percentile, results_append, versions, yes_no  # noqa: E402
from personalization.engine.context import Context  # noqa: E402
from personalization.engine.featurize import VariantFeatures, row_features, score_matrix, variant_features  # noqa: E402
from personalization.engine.model_policy import ModelPolicy  # noqa: E402
from personalization.engine.policies import Candidate, FixedPolicy  # noqa: E402
from personalization.engine.reward_model import RewardModel, reward_model_train  # noqa: E402

TARGET_BATCH_S = 5.0
TARGET_MEDIAN_MS = 0.5
TARGET_P99_MS = 2.0
THREADS = 2
RATE = 0.1  # ModelPolicy's default epsilon
# Returning visitors cycled through decide(): fewer than the embedded locmem cache holds (their
# features stay cached) and more than it holds (features are rebuilt from the database on each call).
DECIDE_POOLS = (100, 500)

VARIANTS: dict[str, VariantFeatures] = {
    key: variant_features(key, "hero", params)
    for key, params in {
        "A": {"headline": "Meet Tailor", "body": "<p>Tailor.</p>", "cta_label": "Go", "cta_url": "/p/"},
        "B": {"headline": "Tailor, fast", "position": "top", "image": {"id": 1}},
        "C": {"headline": "20% off today", "badge": "-20%", "cta_label": "Buy", "cta_url": "/buy/"},
        "D": {"headline": "How Tailor works: a guide?", "position": "right", "body": "<p>Read the guide.</p>"},
    }.items()
}
KEYS = tuple(VARIANTS)
# Click probability per (device, traffic source) and variant: each kind of visitor has its own best variant.
TRUTH: dict[tuple[str, str], tuple[float, ...]] = {
    ("mobile", "newsletter"): (0.05, 0.08, 0.30, 0.05),
    ("mobile", ""): (0.06, 0.22, 0.05, 0.04),
    ("desktop", "search"): (0.06, 0.04, 0.08, 0.25),
    ("desktop", ""): (0.20, 0.05, 0.06, 0.08),
}
DEVICES = ("desktop", "mobile", "tablet")
SOURCES = ("", "newsletter", "search", "twitter", "partner")


def visitor_context(rng: random.Random) -> dict[str, Any]:
    """One visitor's flat context: device, browser, OS, country, referrer, UTM, time, visits, features."""
    device = rng.choice(DEVICES)
    source = rng.choice(SOURCES)
    visits = rng.randrange(1, 12)
    context: dict[str, Any] = {
        "visitor_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "device": device,
        "browser": rng.choice(("Chrome", "Firefox", "Safari", "Edge", "Mobile Safari", "Samsung Internet")),
        "os": rng.choice(("Linux", "Windows", "macOS", "iOS", "Android")),
        "country": rng.choice(("NL", "DE", "US", "FR", "GB", "BE", "ES", "")),
        "referrer": rng.choice(("", "", "https://www.google.com/search?q=x", "https://news.example.org/a")),
        "hour": rng.randrange(24),
        "weekday": rng.randrange(7),
        "is_authenticated": rng.random() < 0.2,
        "visit_count": visits,
        "is_returning": visits > 1,
        "features": {"scroll_depth": round(rng.random(), 2), "clicks_7d": float(rng.randrange(6))},
    }
    if source:
        context["utm_source"] = source
        context["utm_medium"] = "email" if source == "newsletter" else "referral"
    return context


def click_probability(context: Context, key: str) -> float:
    device = "mobile" if context.device != "desktop" else "desktop"
    source = context.utm.get("source", "")
    rates = TRUTH.get((device, source)) or TRUTH[(device, "")]
    return rates[KEYS.index(key)]


def model_train(rows: int, seed: int) -> RewardModel:
    """A model trained on a uniformly logged synthetic log of ``rows`` decisions.

    Nothing is held out, so there is no early stopping: the model has the trainer's full
    200 trees, the most a served model can have, and prediction is as slow as it gets.
    """
    rng = random.Random(seed)
    features, labels = [], []
    for _ in range(rows):
        context = Context.from_mapping(visitor_context(rng))
        key = rng.choice(KEYS)
        features.append(row_features(context, VARIANTS[key]))
        labels.append(1.0 if rng.random() < click_probability(context, key) else 0.0)
    return reward_model_train(features, labels, seed=seed, valid_fraction=0.0)[0]


# 1. Batch


def batch_run(model: RewardModel, contexts: list[Context], reps: int) -> dict[str, Any]:
    variants = list(VARIANTS.values())
    n = len(contexts) * len(variants)

    def dict_path() -> tuple[np.ndarray, float, float]:
        gc.collect()
        start = time.perf_counter()
        rows = [row_features(context, variant) for context in contexts for variant in variants]
        built = time.perf_counter()
        scores = model.predict(rows)
        done = time.perf_counter()
        del rows
        return scores, done - start, done - built

    def batch_path() -> tuple[np.ndarray, float, float]:
        gc.collect()
        start_cpu, start = time.process_time(), time.perf_counter()
        scores = model.score(contexts, variants)
        done = time.perf_counter()
        return scores.ravel(), done - start, time.process_time() - start_cpu

    reference, _, _ = dict_path()  # warm-up of each, untimed
    batch_path()
    dict_s: list[float] = []
    dict_predict_s: list[float] = []
    batch_s: list[float] = []
    batch_cpu_s: list[float] = []
    close: list[bool] = []
    identical: list[bool] = []
    for _ in range(reps):
        for path in (dict_path, batch_path):
            scores, seconds, extra = path()
            if path is dict_path:
                dict_s.append(seconds)
                dict_predict_s.append(extra)
            else:
                batch_s.append(seconds)
                batch_cpu_s.append(extra)
            close.append(scores.shape == (n,) and bool(np.allclose(scores, reference, rtol=1e-12, atol=0.0)))
            identical.append(bool(np.array_equal(scores, reference)))

    # Where the batch path's time goes: one more run, split into encoding and LightGBM (not in the ratio).
    gc.collect()
    start = time.perf_counter()
    X = score_matrix(contexts, variants, model.schema)
    encoded = time.perf_counter()
    model.predict_matrix(X)
    predicted = time.perf_counter()
    del X
    return {
        "scores": n,
        "visitors": len(contexts),
        "variants": len(variants),
        "reps": reps,
        "batch_s": batch_s,
        "dict_s": dict_s,
        "batch_median_s": statistics.median(batch_s),
        "dict_median_s": statistics.median(dict_s),
        "dict_predict_median_s": statistics.median(dict_predict_s),
        "batch_cpu_per_wall": statistics.median(c / w for c, w in zip(batch_cpu_s, batch_s, strict=True)),
        "encode_s": encoded - start,
        "lightgbm_s": predicted - encoded,
        "close": all(close),
        "identical": all(identical),
        "best_by_context": [
            min(KEYS[i] for i in np.flatnonzero(r == r.max())) for r in reference.reshape(-1, len(variants))
        ],
    }


# 2. Engine: ModelPolicy.choose against FixedPolicy.choose


def policy_run(model: RewardModel, pool: list[Context], best: list[str], calls: int, warmup: int) -> dict[str, Any]:
    candidates = [Candidate(key) for key in KEYS]
    k = len(KEYS)
    model_policy = ModelPolicy(model=model, variants=VARIANTS, exploration="epsilon", rate=RATE)
    fixed = FixedPolicy(default_key="A")
    rng_model, rng_fixed = random.Random(11), random.Random(12)
    perf = time.perf_counter_ns
    model_ns: list[int] = []
    fixed_ns: list[int] = []
    wrong: list[str] = []
    reasons: Counter[str] = Counter()

    def check_model(i: int, choice: Any) -> None:
        want_best = best[i % len(pool)]
        if choice.reason == "model":
            ok = choice.key == want_best and abs(choice.propensity - (1 - RATE + RATE / k)) < 1e-12
        else:
            ok = choice.reason == "explore" and choice.key != want_best and abs(choice.propensity - RATE / k) < 1e-12
        if not ok:
            wrong.append(f"model call {i}: {choice} but the batch's best is {want_best}")

    for i in range(warmup):
        context = pool[i % len(pool)]
        model_policy.choose(candidates, context, rng_model)
        fixed.choose(candidates, context, rng_fixed)
    gc.collect()
    for i in range(calls):
        context = pool[i % len(pool)]
        # Alternate which goes first so neither always runs on a warmer cache.
        for which in ("model", "fixed") if i % 2 == 0 else ("fixed", "model"):
            if which == "model":
                start = perf()
                choice = model_policy.choose(candidates, context, rng_model)
                model_ns.append(perf() - start)
                check_model(i, choice)
                reasons[choice.reason] += 1
            else:
                start = perf()
                choice = fixed.choose(candidates, context, rng_fixed)
                fixed_ns.append(perf() - start)
                if (choice.key, choice.propensity) != ("A", 1.0):
                    wrong.append(f"fixed call {i}: {choice}")
    return {
        "calls": calls,
        "warmup": warmup,
        "model_median_ms": percentile(model_ns, 50) / 1e6,
        "model_p99_ms": percentile(model_ns, 99) / 1e6,
        "fixed_median_ms": percentile(fixed_ns, 50) / 1e6,
        "fixed_p99_ms": percentile(fixed_ns, 99) / 1e6,
        "reasons": reasons,
        "wrong": wrong,
    }


# 3. Service: decide() with a model, on the embedded settings


def decide_run(calls: int, warmup: int, pools: tuple[int, ...]) -> dict[str, Any]:
    """Train the simulated slot's model, then time decide() once per visitor-pool size."""
    from django.core.cache import cache
    from django.db import connection

    from demo.simulation import SLOT_KEY, pipeline_drain, simulation_slot_ensure, traffic_run
    from personalization.learning.training import model_train as slot_model_train
    from personalization.serving.decide import decide, slot_get
    from tracking.decision_sinks import DecisionBatch
    from tracking.visitors import VisitorState

    started = time.perf_counter()
    simulation_slot_ensure()
    traffic_run(2000, random.Random(1))
    pipeline_drain()
    report = slot_model_train(SLOT_KEY)
    setup_s = time.perf_counter() - started
    hero, offer = slot_get(SLOT_KEY), slot_get("product-offer")
    policy = hero.policy
    model = getattr(policy, "model", None)
    if policy.name != "model" or model is None or offer.policy.name != "fixed":
        raise RuntimeError(f"expected a served model on {SLOT_KEY} and a fixed product-offer: {report}")
    keys = [c.key for c in hero.candidates]
    variants = [policy.variants[key] for key in keys]
    k = len(keys)

    batch = DecisionBatch()  # read, never written: the write happens after the response, outside decide()
    pending = batch.records
    perf = time.perf_counter_ns
    queries = [0]

    def count_queries(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[0] += 1
        return execute(sql, params, many, context)

    def measure(pool_size: int) -> dict[str, Any]:
        rng = random.Random(7)
        pool = []
        for _ in range(pool_size):
            context = visitor_context(rng)
            visitor = VisitorState(
                id=context.pop("visitor_id"), visit_count=context["visit_count"], is_returning=context["is_returning"]
            )
            context.pop("features")  # decide() adds the visitor's real-time features, as on a page
            pool.append((visitor, context))
        model_records: list[dict[str, Any]] = []
        wrong: list[str] = []

        def one(slot_key: str, visitor: Any, context: dict[str, Any]) -> int:
            start = perf()
            decision = decide(slot_key, visitor, context, sink=batch)
            elapsed = perf() - start
            if len(pending) != 1 or pending[0]["variant_key"] != decision.variant.key:
                raise AssertionError(f"decision log: expected 1 queued record for {slot_key}, got {pending!r}")
            record = pending.pop()
            if slot_key == SLOT_KEY:
                model_records.append(record)
            elif (record["variant_key"], record["policy"]) != ("offer-standard", "fixed"):
                wrong.append(f"product-offer: {record['variant_key']} by {record['policy']}")
            return elapsed

        for i in range(warmup):
            visitor, context = pool[i % len(pool)]
            one(SLOT_KEY, visitor, context)
            one("product-offer", visitor, context)
        model_records.clear()
        hero_ns: list[int] = []
        offer_ns: list[int] = []
        queries[0] = 0
        gc.collect()
        with connection.execute_wrapper(count_queries):
            for i in range(calls):
                visitor, context = pool[i % len(pool)]
                order = ((SLOT_KEY, hero_ns), ("product-offer", offer_ns))
                for slot_key, sink in order if i % 2 == 0 else order[::-1]:
                    sink.append(one(slot_key, visitor, context))

        # Each model decision against the batch path on the context it logged: "model" means the best variant.
        logged = [Context.from_mapping(record["context"]) for record in model_records]
        scores = model.score(logged, variants)
        reasons: Counter[str] = Counter()
        for record, row in zip(model_records, scores, strict=True):
            best = min(key for key, score in zip(keys, row, strict=True) if score == row.max())
            reason, chosen = record["reason"], record["variant_key"]
            reasons[reason] += 1
            expected_p = (1 - policy.rate + policy.rate / k) if chosen == best else policy.rate / k
            if (
                record["policy"] != "model"
                or reason != ("model" if chosen == best else "explore")
                or abs(record["propensity"] - expected_p) > 1e-9
            ):
                wrong.append(
                    f"{SLOT_KEY}: {chosen} ({reason}, p={record['propensity']}) but the batch's best is {best}"
                )
        return {
            "pool": pool_size,
            "calls": calls,
            "warmup": warmup,
            "hero_median_ms": percentile(hero_ns, 50) / 1e6,
            "hero_p99_ms": percentile(hero_ns, 99) / 1e6,
            "offer_median_ms": percentile(offer_ns, 50) / 1e6,
            "offer_p99_ms": percentile(offer_ns, 99) / 1e6,
            "queries_per_call": queries[0] / calls,  # the fixed slot makes none: they are all home-hero's
            "reasons": reasons,
            "wrong": wrong,
        }

    results = []
    for pool_size in pools:
        cache.clear()  # each pool starts from the same cold cache; the warm-up fills what fits
        results.append(measure(pool_size))
    return {
        "setup_s": setup_s,
        "train_rows": report.rows,
        "model_version": getattr(policy, "model_version", ""),
        "cache_max_entries": getattr(cache, "_max_entries", None),
        "pools": results,
    }


def decide_in_temp_db(calls: int, warmup: int, pools: tuple[int, ...]) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a plain `kill` still removes the temp folder
    var_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-scoring-"))
    try:
        django_embedded_setup(var_dir)
        return decide_run(calls, warmup, pools)
    finally:
        if "django.db" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
            from django.db import connections

            connections.close_all()  # before deleting the SQLite file under var_dir
        shutil.rmtree(var_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=250_000, help="visitors in the batch (default 250000)")
    parser.add_argument("--reps", type=int, default=3, help="timed batch repetitions of each path (default 3)")
    parser.add_argument("--calls", type=int, default=20_000, help="timed choose()/decide() calls of each (20000)")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed calls of each first (default 2000)")
    parser.add_argument("--no-django", action="store_true", help="skip the decide() measurement")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()
    wall = time.perf_counter()

    model = model_train(20_000, seed=1)
    rng = random.Random(2)
    contexts = [Context.from_mapping(visitor_context(rng)) for _ in range(args.visitors)]
    batch = batch_run(model, contexts, args.reps)
    pool = contexts[:5000]
    engine = policy_run(model, pool, batch["best_by_context"][: len(pool)], args.calls, args.warmup)
    del contexts
    service = None if args.no_django else decide_in_temp_db(args.calls, args.warmup, DECIDE_POOLS)

    scores_per_s = batch["scores"] / batch["batch_median_s"]
    ratio = batch["dict_median_s"] / batch["batch_median_s"]
    batch_s_per_million = batch["batch_median_s"] * 1e6 / batch["scores"]
    batch_met = batch_s_per_million < TARGET_BATCH_S
    engine_met = engine["model_median_ms"] < TARGET_MEDIAN_MS and engine["model_p99_ms"] < TARGET_P99_MS
    engine_ratio = engine["model_median_ms"] / engine["fixed_median_ms"]
    correct_batch = batch["close"]
    correct_engine = not engine["wrong"]
    command = ".venv/bin/python bench/scoring.py" + "".join(
        f" --{name} {value}"
        for name, value, default in (
            ("visitors", args.visitors, 250_000),
            ("reps", args.reps, 3),
            ("calls", args.calls, 20_000),
            ("warmup", args.warmup, 2_000),
        )
        if value != default
    )
    if args.no_django:
        command += " --no-django"
    lgb_note = f"LightGBM {lightgbm.__version__}, numpy {np.__version__}, {THREADS} threads"

    print(f"scoring benchmark  ({now_utc()}, {machine()}, {versions()}, {lgb_note})")
    print(f"  model: {model.num_trees} trees, {len(model.schema.columns)} columns")
    print(
        f"  batch: {batch['visitors']:,} visitors x {batch['variants']} variants = {batch['scores']:,} scores;"
        f" {args.reps} timed repetitions of each, A B interleaved, after 1 warm-up each"
    )
    print(
        f"    RewardModel.score          median {batch['batch_median_s']:.2f} s"
        f"  ({', '.join(f'{s:.2f}' for s in batch['batch_s'])})  = {scores_per_s:,.0f} scores/s"
        f"  (CPU/wall {batch['batch_cpu_per_wall']:.2f})"
    )
    print(f"      one more run split: score_matrix {batch['encode_s']:.2f} s + LightGBM {batch['lightgbm_s']:.2f} s")
    print(
        f"    predict(row_features...)   median {batch['dict_median_s']:.2f} s"
        f"  ({', '.join(f'{s:.2f}' for s in batch['dict_s'])})"
        f"  of which predict() {batch['dict_predict_median_s']:.2f} s"
    )
    print(
        f"    ratio dict / batch (medians): {ratio:.1f}x;  scores allclose in every run: {yes_no(batch['close'])},"
        f" bit-identical: {yes_no(batch['identical'])}"
    )
    print(f"    target 1,000,000 scores < {TARGET_BATCH_S:.0f} s: {batch_s_per_million:.2f} s -> {yes_no(batch_met)}")
    print(f"  ModelPolicy.choose vs FixedPolicy.choose: {engine['calls']} calls each, interleaved, after {args.warmup}")
    print(
        f"    model  median {engine['model_median_ms']:.4f} ms  p99 {engine['model_p99_ms']:.4f} ms"
        f"   fixed  median {engine['fixed_median_ms']:.4f} ms  p99 {engine['fixed_p99_ms']:.4f} ms"
        f"   ratio {engine_ratio:.0f}x;  reasons {dict(engine['reasons'])};  wrong {len(engine['wrong'])}"
    )
    print(
        f"    target median < {TARGET_MEDIAN_MS} ms and p99 < {TARGET_P99_MS} ms: {yes_no(engine_met)}"
        f";  choices correct: {yes_no(correct_engine)}"
    )
    for line in engine["wrong"][:5]:
        print(f"    WRONG: {line}")
    rows: list[list[object]] = [
        [
            now_utc(),
            machine(),
            versions(),
            f"`{command}`",
            f"batch: RewardModel.score, {batch['visitors']:,} visitors x {batch['variants']} variants"
            f" ({model.num_trees} trees, {len(model.schema.columns)} columns; {lgb_note})",
            f"{args.reps} each, A B interleaved, after 1 warm-up each",
            f"{batch['batch_median_s']:.2f} s median ({scores_per_s:,.0f} scores/s; {batch_s_per_million:.2f} s per 1M)",
            f"predict([row_features...]) {batch['dict_median_s']:.2f} s median, of which predict() "
            f"{batch['dict_predict_median_s']:.2f} s",
            f"{ratio:.1f}x faster",
            f"{yes_no(correct_batch)} (allclose; bit-identical: {yes_no(batch['identical'])})",
            f"1,000,000 in < {TARGET_BATCH_S:.0f} s",
            yes_no(batch_met),
        ],
        [
            now_utc(),
            machine(),
            versions(),
            f"`{command}`",
            f"engine: ModelPolicy.choose, 4 variants, epsilon 0.1, varied contexts ({model.num_trees} trees)",
            f"{engine['calls']} calls each, interleaved, after {args.warmup} warm-up",
            f"median {engine['model_median_ms']:.4f} ms, p99 {engine['model_p99_ms']:.4f} ms",
            f"FixedPolicy.choose median {engine['fixed_median_ms']:.4f} ms, p99 {engine['fixed_p99_ms']:.4f} ms",
            f"{engine_ratio:.0f}x (medians)",
            yes_no(correct_engine),
            f"median < {TARGET_MEDIAN_MS} ms, p99 < {TARGET_P99_MS} ms",
            yes_no(engine_met),
        ],
    ]
    correct = correct_batch and correct_engine
    if service is not None:
        print(
            f"  decide('home-hero') with a model (trained on {service['train_rows']} logged decisions, version"
            f" {service['model_version']}; setup {service['setup_s']:.0f} s) vs decide('product-offer'), fixed;"
            f" returning visitors, locmem cache of {service['cache_max_entries']} entries"
        )
        for run in service["pools"]:
            met = run["hero_median_ms"] < TARGET_MEDIAN_MS and run["hero_p99_ms"] < TARGET_P99_MS
            run_ratio = run["hero_median_ms"] / run["offer_median_ms"]
            correct = correct and not run["wrong"]
            print(
                f"    {run['pool']} visitors, {run['calls']} calls each, interleaved, after {run['warmup']}:"
                f"  home-hero median {run['hero_median_ms']:.4f} ms  p99 {run['hero_p99_ms']:.4f} ms"
                f"   product-offer median {run['offer_median_ms']:.4f} ms  p99 {run['offer_p99_ms']:.4f} ms"
                f"   ratio {run_ratio:.1f}x"
            )
            print(
                f"      reasons {dict(run['reasons'])};  SQL queries per home-hero call {run['queries_per_call']:.3f};"
                f"  wrong {len(run['wrong'])};  target: {yes_no(met)}"
            )
            for line in run["wrong"][:5]:
                print(f"      WRONG: {line}")
            rows.append(
                [
                    now_utc(),
                    machine(),
                    versions(),
                    f"`{command}`",
                    f"service: decide('home-hero') with a trained model, 4 variants, {run['pool']} returning visitors"
                    f" cycled; embedded settings (SQLite, locmem cache of {service['cache_max_entries']} entries)",
                    f"{run['calls']} calls each, interleaved, after {run['warmup']} warm-up",
                    f"median {run['hero_median_ms']:.4f} ms, p99 {run['hero_p99_ms']:.4f} ms"
                    f" ({run['queries_per_call']:.2f} SQL queries per call)",
                    f"decide('product-offer') (fixed) median {run['offer_median_ms']:.4f} ms,"
                    f" p99 {run['offer_p99_ms']:.4f} ms",
                    f"{run_ratio:.1f}x (medians)",
                    yes_no(not run["wrong"]),
                    f"median < {TARGET_MEDIAN_MS} ms, p99 < {TARGET_P99_MS} ms",
                    yes_no(met),
                ]
            )
    print(f"  total {time.perf_counter() - wall:.0f} s")

    if not args.no_record:
        results_append(
            "scoring",
            [
                "date",
                "machine",
                "versions",
                "command",
                "measured",
                "repetitions",
                "figure",
                "baseline (same run)",
                "ratio",
                "correct",
                "target",
                "target met",
            ],
            rows,
        )
        print("  appended to bench/RESULTS.md")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
