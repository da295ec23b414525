"""The LightGBM reward model: learns a device × variant effect, round-trips through text, refuses bad input.

The synthetic log here (uniform logging over four variants, click rates that depend on
device × variant) is reused by ``test_model_policy``.
"""

import json
import random

import numpy as np
import pytest

from personalization.engine.context import Context
from personalization.engine.featurize import VariantFeatures, matrix, row_features, variant_features
from personalization.engine.reward_model import (
    MIN_ROWS,
    RewardModel,
    TrainingMetrics,
    reward_auc,
    reward_model_train,
)

# Click probability per device and variant: each device has a different best variant.
TRUTH = {
    "desktop": {"A": 0.30, "B": 0.10, "C": 0.15, "D": 0.05},
    "mobile": {"A": 0.08, "B": 0.35, "C": 0.12, "D": 0.10},
    "tablet": {"A": 0.10, "B": 0.12, "C": 0.05, "D": 0.32},
}
BEST = {device: max(rates, key=rates.__getitem__) for device, rates in TRUTH.items()}
VARIANTS = {
    key: variant_features(
        key,
        "hero",
        {
            "headline": "Fresh coffee, delivered" + "!" * i,
            "body": "<p>Every week.</p>",
            "badge": "-10%" if i % 2 else "",
            "image": {"id": i} if i < 2 else None,
            "position": "left" if i < 2 else "right",
        },
    )
    for i, key in enumerate("ABCD")
}
KEYS = tuple(VARIANTS)


def random_context(rng: random.Random) -> Context:
    """A visitor whose device matters; country, hour, visits and scroll depth are noise."""
    return Context.from_mapping(
        {
            "device": rng.choice(list(TRUTH)),
            "country": rng.choice(["NL", "DE", "US", "FR"]),
            "hour": rng.randrange(24),
            "visit_count": rng.randrange(1, 6),
            "features": {"scroll_depth": round(rng.random(), 2)},
        }
    )


def synthetic_log(n: int, seed: int) -> tuple[list[dict], list[float], list[Context]]:
    rng = random.Random(seed)
    rows, labels, contexts = [], [], []
    for _ in range(n):
        context = random_context(rng)
        key = rng.choice(KEYS)
        rows.append(row_features(context, VARIANTS[key]))
        labels.append(1.0 if rng.random() < TRUTH[context.device][key] else 0.0)
        contexts.append(context)
    return rows, labels, contexts


@pytest.fixture(scope="module")
def trained() -> tuple[RewardModel, TrainingMetrics]:
    rows, labels, _ = synthetic_log(20_000, seed=1)
    return reward_model_train(rows, labels, seed=0)


@pytest.fixture(scope="module")
def held_out() -> tuple[list[dict], list[float], list[Context]]:
    return synthetic_log(5_000, seed=2)


def test_training_metrics_describe_the_split(trained):
    _, metrics = trained

    assert metrics.rows == 20_000
    assert 0.1 * 20_000 < metrics.positives < 0.3 * 20_000
    assert metrics.valid_rows == pytest.approx(0.2 * 20_000, abs=2)
    assert metrics.auc is not None
    assert metrics.auc > 0.6
    assert metrics.logloss is not None
    assert 0 < metrics.logloss < 0.6
    assert json.loads(json.dumps(metrics.to_dict())) == metrics.to_dict()


def test_model_ranks_held_out_clicks(trained, held_out):
    model, _ = trained
    rows, labels, _ = held_out
    predictions = model.predict(rows)

    assert predictions.shape == (len(rows),)
    assert np.all((predictions > 0) & (predictions < 1))
    assert reward_auc(np.asarray(labels), predictions) > 0.6


def test_model_finds_the_best_variant_per_device(trained, held_out):
    model, _ = trained
    _, _, contexts = held_out
    for device, best in BEST.items():
        on_device = [c for c in contexts if c.device == device][:300]
        rows = [row_features(c, VARIANTS[key]) for c in on_device for key in KEYS]
        mean_by_variant = model.predict(rows).reshape(len(on_device), len(KEYS)).mean(axis=0)
        assert KEYS[int(np.argmax(mean_by_variant))] == best, (device, mean_by_variant)


def test_serving_sized_predictions_on_one_thread_equal_batch_ones(trained, held_out):
    from personalization.engine.reward_model import SERVING_ROWS

    model, _ = trained
    rows, _, _ = held_out
    X = matrix(rows[: SERVING_ROWS + 1], model.schema)
    whole = model.predict_matrix(X)  # one more than SERVING_ROWS: LightGBM's own threads
    served = np.concatenate([model.predict_matrix(X[i : i + 4]) for i in range(0, len(X), 4)])  # one thread
    np.testing.assert_array_equal(served, whole)


def test_text_round_trip_predicts_identically(trained, held_out):
    model, _ = trained
    rows, _, _ = held_out
    text = model.to_text()
    restored = RewardModel.from_text(text)

    header = json.loads(text.split("\n", 1)[0])
    assert header["format"] == "tailor-reward-model"
    assert restored.schema == model.schema
    assert restored.num_trees == model.num_trees
    np.testing.assert_array_equal(restored.predict(rows), model.predict(rows))
    assert restored.to_text() == text


def test_training_is_deterministic_for_a_seed():
    rows, labels, _ = synthetic_log(2_000, seed=3)
    first, first_metrics = reward_model_train(rows, labels, seed=5, num_boost_round=30)
    second, second_metrics = reward_model_train(rows, labels, seed=5, num_boost_round=30)

    assert first.to_text() == second.to_text()
    assert first_metrics == second_metrics


def test_unseen_variant_and_categories_still_get_a_score(trained):
    model, _ = trained
    context = Context.from_mapping({"device": "smart-tv", "country": "JP", "features": {"new_feature": 1.0}})
    predictions = model.predict([row_features(context, VariantFeatures("E", "banner", {"has_badge": 1.0}))])

    assert predictions.shape == (1,)
    assert 0 < predictions[0] < 1


def test_predict_matrix_checks_the_column_count(trained):
    model, _ = trained

    assert model.predict([]).shape == (0,)
    with pytest.raises(ValueError, match="columns"):
        model.predict_matrix(np.zeros((2, len(model.schema.columns) + 1)))


def test_without_validation_split_metrics_are_empty():
    rows, labels, _ = synthetic_log(500, seed=4)
    _, metrics = reward_model_train(rows, labels, valid_fraction=0.0, num_boost_round=20)

    assert (metrics.valid_rows, metrics.auc, metrics.logloss) == (0, None, None)
    assert metrics.rows == 500


def test_weights_and_fractional_rewards():
    rows, labels, _ = synthetic_log(1_000, seed=6)
    weights = [4.0 if row["device"] == "mobile" else 1.0 for row in rows]
    fractional = [label * 0.5 for label in labels]
    model, metrics = reward_model_train(
        rows, fractional, weights, params={"objective": "cross_entropy"}, num_boost_round=20
    )

    assert metrics.logloss is not None
    assert metrics.auc is not None
    assert np.all((model.predict(rows[:10]) > 0) & (model.predict(rows[:10]) < 1))


def test_rare_positives_still_reach_the_validation_split():
    rows, _, _ = synthetic_log(300, seed=8)
    labels = [1.0 if i % 60 == 0 else 0.0 for i in range(300)]  # 5 positives
    _, metrics = reward_model_train(rows, labels, num_boost_round=10)

    assert metrics.positives == 5
    assert metrics.auc is not None  # stratified: the held-out fifth holds a positive


def test_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60).astype(float)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    positives = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    negatives = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]

    assert reward_auc(labels, scores) == pytest.approx(sum(pairs) / len(pairs))
    assert reward_auc(np.ones(3), np.arange(3.0)) is None


@pytest.mark.parametrize(
    ("n", "labels", "weights", "kwargs", "message"),
    [
        (MIN_ROWS - 1, None, None, {}, "Too few rows"),
        (100, [0.0] * 100, None, {}, "one class"),
        (100, [1.0] * 100, None, {}, "one class"),
        (100, [0.0, 1.0] * 49, None, {}, "one value per row"),
        (100, [0.0, 2.0] * 50, None, {}, r"in \[0, 1\]"),
        (100, [0.0, 0.5] * 50, None, {}, "cross_entropy"),
        (100, None, [1.0] * 99, {}, "weights must have"),
        (100, None, [-1.0] * 100, {}, "non-negative"),
        (100, None, None, {"valid_fraction": 1.0}, "valid_fraction"),
        (100, None, None, {"num_boost_round": 0}, "num_boost_round"),
    ],
)
def test_training_rejects_bad_input(n, labels, weights, kwargs, message):
    rows, synthetic_labels, _ = synthetic_log(n, seed=9)
    synthetic_labels[0], synthetic_labels[1] = 0.0, 1.0  # both classes unless the case overrides
    with pytest.raises(ValueError, match=message):
        reward_model_train(rows, labels if labels is not None else synthetic_labels, weights, **kwargs)


def test_training_rejects_rows_without_features():
    with pytest.raises(ValueError, match="no feature"):
        reward_model_train([{"x": None}] * 100, [0.0, 1.0] * 50)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tree\nversion=v4", "not JSON"),
        ('{"format": "other"}\ntree', "format"),
        ('{"format": "tailor-reward-model", "format_version": 7}\ntree', "format_version"),
        (
            '{"format": "tailor-reward-model", "format_version": 1, "schema": {"numeric": [], "categorical": {}}}',
            "missing",
        ),
        (
            '{"format": "tailor-reward-model", "format_version": 1, "schema": {"numeric": [], "categorical": {}}}\nnot a model',
            "LightGBM cannot read",
        ),
    ],
)
def test_from_text_rejects_malformed_artefacts(text, message):
    with pytest.raises(ValueError, match=message):
        RewardModel.from_text(text)


def test_from_text_rejects_a_schema_that_does_not_fit_the_booster(trained):
    model, _ = trained
    header, model_text = model.to_text().split("\n", 1)
    data = json.loads(header)
    data["schema"]["numeric"] = data["schema"]["numeric"][:-1]

    with pytest.raises(ValueError, match="features but the schema has"):
        RewardModel.from_text(json.dumps(data) + "\n" + model_text)
