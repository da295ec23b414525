"""Explanations: LightGBM's contributions add up to the score, the chosen variant's push is read
against the other candidates, and every policy's reason reads as a sentence an editor understands."""

import math

import numpy as np
import pytest

from personalization.engine.context import Context
from personalization.engine.explain import (
    column_label,
    decision_explain,
    model_effects,
    value_words,
)
from personalization.engine.featurize import row_features
from personalization.engine.reward_model import reward_model_train
from tests.personalization.engine.test_reward_model import KEYS, VARIANTS, synthetic_log


@pytest.fixture(scope="module")
def model():
    rows, labels, _ = synthetic_log(6_000, seed=5)
    trained, _ = reward_model_train(rows, labels, seed=0, num_boost_round=60)
    return trained


def mobile_rows():
    context = Context.from_mapping({"device": "mobile", "country": "NL", "hour": 20, "features": {"scroll_depth": 0.4}})
    return [row_features(context, VARIANTS[key]) for key in KEYS]


def test_contributions_add_up_to_the_raw_score(model):
    rows = mobile_rows()
    contributions = model.contributions(rows)

    assert contributions.shape == (len(rows), len(model.schema.columns) + 1)
    raw = contributions.sum(axis=1)
    predicted = model.predict(rows)
    # LightGBM's guarantee (TreeSHAP): features + bias = the raw score, whose logistic is the prediction.
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-raw)), predicted, rtol=1e-9, atol=1e-12)
    assert model.contributions([]).shape == (0, len(model.schema.columns) + 1)


def test_the_chosen_variants_push_is_read_against_the_other_candidates(model):
    rows = mobile_rows()
    contributions = model.contributions(rows)
    reading = model_effects(contributions, model.schema.columns, list(KEYS), rows, "B")

    # Scores are the model's own predictions; B is what mobile visitors click (see TRUTH).
    np.testing.assert_allclose([reading.scores[k] for k in KEYS], model.predict(rows), rtol=1e-9)
    assert max(reading.scores, key=reading.scores.get) == "B"
    assert reading.candidates == len(KEYS)
    assert 1 <= len(reading.effects) <= 5
    sizes = [abs(e.contribution) for e in reading.effects]
    assert sizes == sorted(sizes, reverse=True)
    # Relative effects: chosen minus the candidates' mean, so they sum to B's raw score minus the mean raw score.
    raw = contributions.sum(axis=1)
    index = KEYS.index("B")
    relative = contributions[index, :-1] - contributions[:, :-1].mean(axis=0)
    assert math.isclose(relative.sum(), raw[index] - raw.mean(), rel_tol=1e-9, abs_tol=1e-12)
    top = reading.effects[0]
    assert top.contribution == pytest.approx(max(relative, key=abs))
    assert top.direction == "up"
    # The variant and the device are what the truth depends on: both push B up for a mobile visitor.
    pushed = {e.feature: e for e in reading.effects}
    assert "variant" in pushed or any(name.startswith("v_") for name in pushed)
    assert pushed.get("device") is None or pushed["device"].value == "mobile"


def test_a_single_candidate_reads_its_own_contributions(model):
    rows = mobile_rows()[:1]
    contributions = model.contributions(rows)
    reading = model_effects(contributions, model.schema.columns, ["A"], rows, "A", top=3)

    assert reading.candidates == 1
    assert len(reading.effects) <= 3
    by_feature = dict(zip(model.schema.columns, contributions[0, :-1], strict=True))
    for effect in reading.effects:
        assert effect.contribution == pytest.approx(by_feature[effect.feature])


def test_model_effects_refuse_a_mismatched_reading(model):
    rows = mobile_rows()
    contributions = model.contributions(rows)
    with pytest.raises(ValueError, match="shape"):
        model_effects(contributions[:, :-1], model.schema.columns, list(KEYS), rows, "B")
    with pytest.raises(ValueError, match="not among"):
        model_effects(contributions, model.schema.columns, list(KEYS), rows, "Z")


def test_labels_and_values_are_editor_words():
    assert column_label("device") == "Device"
    assert column_label("f_avg_dwell_s", lambda name: {"avg_dwell_s": "Average time on page (s)"}[name]) == (
        "Average time on page (s)"
    )
    assert column_label("f_clicks_last_hour") == "Clicks last hour"
    assert column_label("v_has_badge") == "Variant: Has a badge"
    assert column_label("a_plan") == "Site attribute “plan”"
    assert value_words("weekday", 1.0) == "Tuesday"
    assert value_words("hour", 20.0) == "20:00–20:59"
    assert value_words("is_returning", 1.0) == "yes"
    assert value_words("v_has_badge", 0.0) == "no"
    assert value_words("f_avg_dwell_s", 12.5) == "12.5"
    assert value_words("visit_count", 3.0) == "3"
    assert value_words("country", None) == "unknown"
    assert value_words("f_x", float("nan")) == "unknown"


@pytest.mark.parametrize(
    ("policy", "version", "reason", "propensity", "words"),
    [
        ("rules", "1", "segment:mobile", 1.0, "matched the segment “Mobile visitors”"),
        ("rules", "1", "default", 1.0, "matched none of the slot's rules"),
        ("fixed", "1", "default", 1.0, "fixed strategy"),
        ("fixed", "1", "first-live", 1.0, "default variant is paused"),
        ("split", "1", "split", 0.25, "this variant gets 25 % of visitors"),
        ("experiment", "spring", "experiment:spring", 0.5, "experiment “Spring test”"),
        ("holdout", "1", "holdout", 1.0, "holdout"),
        ("bandit", "v7", "bandit:mobile", 0.62, "62 % of visitors in the segment “Mobile visitors”"),
        ("bandit", "v7", "bandit", 0.3, "30 % of visitors"),
        ("capped", "1", "capped", 1.0, "frequency caps"),
        ("no-consent", "1", "default", 1.0, "not consented"),
        ("trigger-default", "1", "default", 1.0, "trigger"),
        ("fallback", "1", "default", 1.0, "failed"),
        ("model", "1", "uniform", 0.25, "No trained model"),
        ("model", "12", "explore", 0.025, "Exploration"),
        ("split", "1", "novelty", 0.4, "novelty decay"),
    ],
)
def test_every_policy_explains_itself(policy, version, reason, propensity, words):
    explanation = decision_explain(
        policy=policy,
        policy_version=version,
        reason=reason,
        propensity=propensity,
        segment_names={"mobile": "Mobile visitors"},
        experiment_names={"spring": "Spring test"},
    )
    assert words in explanation.summary
    out = explanation.to_dict()
    assert out["policy"] == policy
    assert out["reason"] == reason
    assert out["share"] == propensity
    assert out["features"] == []
    assert out["relative_to"] == 0
    if reason.startswith(("segment:", "bandit:")):
        assert out["segment"] == "mobile"
        assert out["segment_name"] == "Mobile visitors"
    if policy == "experiment":
        assert out["experiment"] == "spring"


def test_a_model_choice_names_its_score_and_features(model):
    rows = mobile_rows()
    reading = model_effects(model.contributions(rows), model.schema.columns, list(KEYS), rows, "B")
    explanation = decision_explain(
        policy="model", policy_version="3", reason="model", propensity=0.925, reading=reading, chosen="B"
    )
    out = explanation.to_dict()

    assert "expects this variant to do best" in out["summary"]
    assert f"{reading.scores['B'] * 100:.1f} %" in out["summary"]
    assert out["score"] == pytest.approx(reading.scores["B"], abs=1e-6)
    assert out["relative_to"] == 4
    assert [f["feature"] for f in out["features"]] == [e.feature for e in reading.effects]
    first = out["features"][0]
    assert first["direction"] in ("up", "down")
    assert first["label"] in first["words"]
