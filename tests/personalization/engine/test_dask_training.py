"""The Dask backend trains the reward model the local backend trains, on a real two-worker cluster.

The synthetic log hides three visitor types behind what the tracker would see (campaign
medium, coupon views, scroll depth, visit count); each type has a different best variant.
Both backends train on it and must agree on quality and on the winners.
"""

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from distributed import Client, LocalCluster

from personalization.engine.context import Context
from personalization.engine.dask_training import _best_iteration, early_stopping_iteration, reward_model_train_dask
from personalization.engine.featurize import row_features
from personalization.engine.reward_model import RewardModel, reward_model_train, training_prepare
from tests.personalization.engine.test_reward_model import KEYS, VARIANTS

REPO_ROOT = Path(__file__).resolve().parents[3]
N_ROWS = 12_000
CHUNK_ROWS = 2_000
AUC_TOLERANCE = 0.03

# Click probability per hidden visitor type and variant: each type has a different best variant.
TRUTH = {
    "bargain": {"A": 0.08, "B": 0.32, "C": 0.10, "D": 0.12},
    "researcher": {"A": 0.30, "B": 0.08, "C": 0.14, "D": 0.06},
    "loyal": {"A": 0.10, "B": 0.12, "C": 0.34, "D": 0.08},
}
BEST = {kind: max(rates, key=rates.__getitem__) for kind, rates in TRUTH.items()}
MEDIUM = {"bargain": "cpc", "researcher": "organic", "loyal": "email"}


def visitor(kind: str, rng: random.Random) -> Context:
    """What the tracker sees of a visitor of a hidden type: telling but noisy signals, plus pure noise."""
    medium = MEDIUM[kind] if rng.random() < 0.8 else rng.choice(list(MEDIUM.values()))
    return Context.from_mapping(
        {
            "device": rng.choice(["mobile", "desktop"]),
            "country": rng.choice(["NL", "DE", "US"]),
            "hour": rng.randrange(24),
            "utm_medium": medium,
            "visit_count": rng.randrange(4, 9) if kind == "loyal" else rng.randrange(1, 4),
            "features": {
                "coupon_views": float(rng.randrange(3, 8) if kind == "bargain" else rng.randrange(0, 3)),
                "scroll_depth": round(min(1.0, rng.random() * 0.5 + (0.5 if kind == "researcher" else 0.1)), 2),
            },
        }
    )


def hidden_type_log(n: int, seed: int) -> tuple[list[dict], list[float], list[float]]:
    """A uniformly logged slot: feature rows, click labels and (uneven) importance weights."""
    rng = random.Random(seed)
    rows, labels, weights = [], [], []
    for _ in range(n):
        kind = rng.choice(list(TRUTH))
        key = rng.choice(KEYS)
        rows.append(row_features(visitor(kind, rng), VARIANTS[key]))
        labels.append(1.0 if rng.random() < TRUTH[kind][key] else 0.0)
        weights.append(rng.choice([1.0, 1.0, 2.0]))
    return rows, labels, weights


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="module")
def log() -> tuple[list[dict], list[float], list[float]]:
    return hidden_type_log(N_ROWS, seed=1)


@pytest.fixture(scope="module")
def local(log):
    rows, labels, weights = log
    return reward_model_train(rows, labels, weights, seed=0)


@pytest.fixture(scope="module")
def on_cluster(client, log):
    """The Dask-trained model and metrics, with the worker that held each scattered block."""
    rows, labels, weights = log
    holders: list[str] = []
    scatter = client.scatter

    def recording_scatter(data, *args, **kwargs):
        futures = scatter(data, *args, **kwargs)
        for workers in client.who_has(futures).values():
            holders.extend(workers)
        return futures

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client, "scatter", recording_scatter)
        model, metrics = reward_model_train_dask(rows, labels, weights, client=client, seed=0, chunk_rows=CHUNK_ROWS)
    return model, metrics, holders


def best_variant_per_type(model: RewardModel) -> dict[str, str]:
    rng = random.Random(99)
    variants = [VARIANTS[key] for key in KEYS]
    picks = {}
    for kind in TRUTH:
        contexts = [visitor(kind, rng) for _ in range(300)]
        mean_by_variant = model.score(contexts, variants).mean(axis=0)
        picks[kind] = KEYS[int(np.argmax(mean_by_variant))]
    return picks


def test_the_cluster_has_two_workers_and_both_hold_training_data(client, on_cluster, log):
    model, metrics, holders = on_cluster

    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    # Each chunk is three blocks (matrix, labels, weights) on one worker.
    n_chunks = math.ceil((N_ROWS - metrics.valid_rows) / CHUNK_ROWS)
    assert len(holders) == 3 * n_chunks
    assert set(holders) == set(workers)
    assert min(Counter(holders).values()) >= 3
    # LightGBM trained data-parallel on both: it records the machine count in the model.
    assert "[num_machines: 2]" in model.to_text()
    assert "[tree_learner: data]" in model.to_text()


def test_dask_model_matches_local_quality(local, on_cluster):
    local_model, local_metrics = local
    dask_model, dask_metrics, _ = on_cluster
    print(f"validation AUC local={local_metrics.auc:.4f} dask={dask_metrics.auc:.4f}")

    # Same schema and same validation split: the metrics measure the same rows.
    assert dask_model.schema == local_model.schema
    assert (dask_metrics.rows, dask_metrics.positives, dask_metrics.valid_rows) == (
        local_metrics.rows,
        local_metrics.positives,
        local_metrics.valid_rows,
    )
    assert local_metrics.auc is not None
    assert dask_metrics.auc is not None
    assert local_metrics.auc > 0.6
    assert dask_metrics.auc == pytest.approx(local_metrics.auc, abs=AUC_TOLERANCE)
    assert dask_metrics.logloss == pytest.approx(local_metrics.logloss, abs=0.01)
    # Early stopping kept fewer trees than the cap, as it does locally.
    assert 1 <= dask_model.num_trees < 200


def test_both_backends_pick_the_best_variant_for_most_types(local, on_cluster):
    local_picks = best_variant_per_type(local[0])
    dask_picks = best_variant_per_type(on_cluster[0])

    assert sum(local_picks[kind] == best for kind, best in BEST.items()) >= 2, local_picks
    assert sum(dask_picks[kind] == best for kind, best in BEST.items()) >= 2, dask_picks


def test_dask_model_round_trips_through_text(on_cluster, log):
    model, _, _ = on_cluster
    rows = log[0][:500]
    text = model.to_text()
    restored = RewardModel.from_text(text)

    assert json.loads(text.split("\n", 1)[0])["format"] == "tailor-reward-model"
    assert restored.schema == model.schema
    assert restored.num_trees == model.num_trees
    np.testing.assert_array_equal(restored.predict(rows), model.predict(rows))
    assert restored.to_text() == text
    # The ports this training happened to use are not part of the stored model.
    assert "[machines: ]" in text


def test_fractional_rewards_train_on_the_cluster(client, log):
    rows, labels, weights = log
    rows, fractional, weights = rows[:3_000], [0.5 * label for label in labels[:3_000]], weights[:3_000]
    model, metrics = reward_model_train_dask(
        rows, fractional, weights, client=client, params={"objective": "cross_entropy"}, num_boost_round=40
    )

    assert "objective=cross_entropy" in model.to_text()
    assert metrics.auc is not None
    assert metrics.logloss is not None
    assert np.all((model.predict(rows[:20]) > 0) & (model.predict(rows[:20]) < 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {"objective": "regression"}}, "objectives"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"num_boost_round": 0}, "num_boost_round"),
    ],
)
def test_dask_backend_refuses_bad_input_before_using_the_cluster(log, kwargs, message):
    rows, labels, weights = log

    class NoCluster:
        def __getattr__(self, name):
            raise AssertionError(f"the cluster was used: client.{name}")

    with pytest.raises(ValueError, match=message):
        reward_model_train_dask(rows[:200], labels[:200], weights[:200], client=NoCluster(), **kwargs)


# Early stopping: the Dask backend replays, after training, the rule the local callback applies.


@pytest.mark.parametrize(
    ("losses", "rounds", "expected"),
    [
        ([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0], 3, 3),  # stops three rounds after the best, never sees 2.0
        ([5.0, 4.0, 3.0, 3.5, 2.9, 3.1], 3, 5),
        ([3.0, 3.0, 3.0], 5, 1),  # equal is no improvement
        ([5.0, 4.0, 3.0], 20, 3),  # never stops: the best of all
    ],
)
def test_early_stopping_iteration(losses, rounds, expected):
    assert early_stopping_iteration(losses, rounds) == expected


@pytest.mark.parametrize("params", [None, {"objective": "cross_entropy"}])
def test_replayed_early_stopping_keeps_what_the_local_callback_keeps(log, params):
    rows, labels, weights = (part[:4_000] for part in log)
    if params:
        labels = [0.5 * label for label in labels]
    plan = training_prepare(rows, labels, weights, params=params, seed=0)
    (X, y, w), *_ = plan.train_chunks(plan.train_index.size)
    train_set = lgb.Dataset(
        X,
        label=y,
        weight=w,
        feature_name=plan.feature_names,
        categorical_feature=plan.schema.categorical_indices,
        params=dict(plan.params),
    )
    every_round = lgb.train(dict(plan.params), train_set, num_boost_round=200)
    early, _ = reward_model_train(rows, labels, weights, params=params, seed=0)

    best = _best_iteration(every_round, plan)
    assert best == early.num_trees < 200
    np.testing.assert_allclose(
        every_round.predict(plan.X_valid, num_iteration=best), early.predict_matrix(plan.X_valid)
    )


def test_importing_the_engine_does_not_import_dask():
    probe = (
        "import sys, json\n"
        "import personalization.engine, personalization.engine.reward_model, personalization.engine.dask_training\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'django'))))\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
