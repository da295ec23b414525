"""CUPED on live results: adjusted comparisons equal the ANCOVA reference on the visitor rows, and can be turned off."""

from __future__ import annotations

import io
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from statsmodels.regression.linear_model import OLS

from personalization.api.serializers import SlotResultsOutputSerializer
from personalization.engine.statistics import VariantSums, experiment_compare
from personalization.results import cuped as cuped_module
from personalization.results.experiments import experiment_results, holdout_uplift
from personalization.results.rollup import results_rollup
from personalization.results.selectors import METRICS, slot_results, slot_results_recent
from tests.factories.experiments import experiment_create
from tests.factories.slots import slot_create
from tracking.models import DecisionLog, Event

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-results-token-0123456789"
URL = "/api/v1/slots/hero/results/"
CONTRACT = {"slot", "window", "metric", "control", "srm_p_value", "variants", "comparisons", "verdict"}


def today():
    # Read when a test runs, not when the module is collected: a suite may cross midnight (UTC).
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


DAY = today() - timedelta(days=1)  # the log's day: whole, and inside every window read here
VISITORS = 3000


@dataclass(frozen=True)
class Visitor:
    arm: str
    prior: int  # prior visits: the covariate
    clicked: bool
    value: float  # conversion value (0: no conversion)


def log_create(*, policies: dict[str, dict[str, str]], constant: bool = False, seed: int = 3) -> list[Visitor]:
    """Visitors who each see the slot once; returning visitors click and convert more, and b lifts both."""
    rng = random.Random(seed)
    visitors, decisions, events = [], [], []
    for _ in range(VISITORS):
        arm = rng.choice("ab")
        prior = 0 if constant else min(int(rng.expovariate(1 / 3)), 60)  # 60: past the rollup's cap
        x = min(prior, 50)
        p_click = min(0.05 + 0.03 * min(x, 10), 0.9) * (1.15 if arm == "b" else 1.0)
        clicked = rng.random() < p_click
        converted = rng.random() < 0.1 + 0.03 * min(x, 10)
        value = round((20 + 4 * x) * (1.1 if arm == "b" else 1.0) + rng.gauss(0, 8), 2) if converted else 0.0
        visitor, decision_id = uuid.uuid4(), uuid.uuid4()
        at = DAY + timedelta(seconds=rng.randrange(20 * 3600))
        decisions.append(
            DecisionLog(
                id=decision_id,
                created_at=at,
                visitor_id=visitor,
                slot_key="hero",
                variant_key=arm,
                propensity=0.5,
                context={"device": "desktop", "visit_count": prior + 1, "is_returning": prior > 0},
                **policies[arm],
            )
        )
        outcomes = [("impression", 1, decision_id, None)]
        if clicked:
            outcomes.append(("click", 30, decision_id, None))
        if converted:
            outcomes.append(("conversion", 60, None, value))
        for kind, seconds, on, amount in outcomes:
            ts = at + timedelta(seconds=seconds)
            events.append(
                Event(
                    id=uuid.uuid4(),
                    visitor_id=visitor,
                    decision_id=on,
                    type=kind,
                    ts=ts,
                    received_at=ts,
                    value=amount,
                )
            )
        visitors.append(Visitor(arm, x, clicked, value if converted else 0.0))
    DecisionLog.objects.bulk_create(decisions, batch_size=1000)
    Event.objects.bulk_create(events, batch_size=1000)
    results_rollup(since=DAY.date(), now=timezone.now())
    return visitors


def reference(visitors: list[Visitor], metric: str) -> dict[str, float]:
    """ANCOVA on the visitor rows: y ~ 1 + arm + (x - x̄), robust (HC0) covariance, as statsmodels fits it."""
    treated = np.array([v.arm == "b" for v in visitors], dtype=float)
    x = np.array([v.prior for v in visitors], dtype=float)
    y = np.array([float(v.clicked) if metric == "click_rate" else v.value for v in visitors])
    design = np.column_stack([np.ones_like(y), treated, x - x.mean()])
    fit = OLS(y, design).fit(cov_type="HC0")
    raw = OLS(y, design[:, :2]).fit(cov_type="HC0")
    control, effect = fit.params[0], fit.params[1]  # control's adjusted mean (at the mean x), and b - a
    cov = fit.cov_params()[:2, :2]
    gradient = np.array([-effect / control**2, 1 / control])  # of the lift effect / control, by the delta method
    return {
        "lift": effect / control,
        "lift_se": float(np.sqrt(gradient @ cov @ gradient)),
        "p_value": float(fit.pvalues[1]),
        "variance_reduction": 1 - fit.bse[1] ** 2 / raw.bse[1] ** 2,
        "raw_lift": raw.params[1] / raw.params[0],
    }


def assert_matches(body: dict, expected: dict[str, float]) -> None:
    (comparison,) = body["comparisons"]
    assert body["cuped"]["applied"] is True
    assert body["cuped"]["covariate"] == "prior visits"
    assert comparison["lift"] == pytest.approx(expected["lift"], rel=1e-9)
    lo, hi = comparison["lift_ci95"]
    assert (hi - lo) / 2 == pytest.approx(1.959964 * expected["lift_se"], rel=0.02)
    assert comparison["p_value"] == pytest.approx(expected["p_value"], rel=0.05, abs=0.002)
    assert body["cuped"]["variance_reduction"] == pytest.approx(expected["variance_reduction"], abs=0.01)


@pytest.fixture
def experiment_log(db):
    slot = slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment = experiment_create(slot, "exp", starts_at=timezone.now() - timedelta(days=3), minimum_sample=100)
    in_experiment = {"policy": "experiment", "policy_version": "exp"}
    return experiment, log_create(policies={"a": in_experiment, "b": in_experiment})


@pytest.mark.parametrize("metric", ["click_rate", "value_per_visitor"])
def test_adjusted_results_equal_the_ancova_reference(experiment_log, metric):
    experiment, visitors = experiment_log
    expected = reference(visitors, metric)
    assert expected["variance_reduction"] > 0.05  # prior visits predict the outcome here

    assert_matches(slot_results("hero", DAY.date(), today().date(), metric), expected)
    assert_matches(experiment_results(experiment, metric=metric), expected)


def test_the_holdout_uplift_is_adjusted_on_group_cohorts(db):
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.5)
    held_out = {"policy": "holdout"}
    visitors = log_create(policies={"a": held_out, "b": {"policy": "split"}})
    # The holdout is a, served by the slot's strategy is b: the same comparison as a against b.
    body = holdout_uplift("hero", DAY.date(), today().date(), "click_rate")
    assert_matches(body, reference(visitors, "click_rate"))


def raw_compare(metric: str) -> dict:
    """The comparison without CUPED, from the rolled-up sums alone (what the results read before CUPED)."""
    chosen = METRICS[metric]
    arms = []
    for key in "ab":
        rows = list(
            __import__("personalization.models", fromlist=["VariantDay"]).VariantDay.objects.filter(
                slot_key="hero", variant_key=key
            )
        )
        squares = sum(getattr(r, chosen.squares) for r in rows) if chosen.squares else None
        arms.append(
            VariantSums(key, sum(r.visitors for r in rows), float(sum(getattr(r, chosen.total) for r in rows)), squares)
        )
    results = experiment_compare(arms[0], arms[1:], kind=chosen.kind, expected_split={"a": 1.0, "b": 1.0})
    return results.as_contract()["comparisons"][0]


@pytest.mark.parametrize("metric", ["click_rate", "value_per_visitor"])
def test_the_switch_turns_it_off_and_leaves_the_raw_comparison(experiment_log, metric):
    _, visitors = experiment_log
    body = slot_results("hero", DAY.date(), today().date(), metric, cuped=False)

    assert body["cuped"] == {
        "covariate": "prior visits",
        "applied": False,
        "variance_reduction": None,
        "reason": cuped_module.OFF,
    }
    assert body["comparisons"][0] == raw_compare(metric)
    assert body["comparisons"][0]["lift"] == pytest.approx(reference(visitors, metric)["raw_lift"], rel=1e-9)
    adjusted = slot_results("hero", DAY.date(), today().date(), metric)
    assert adjusted["comparisons"][0]["lift"] != body["comparisons"][0]["lift"]
    assert adjusted["variants"] == body["variants"]  # each variant's own figures are what was observed


def test_a_covariate_without_spread_is_not_applied(db):
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    log_create(policies={"a": {"policy": "split"}, "b": {"policy": "split"}}, constant=True)

    body = slot_results("hero", DAY.date(), today().date(), "click_rate")

    assert body["cuped"]["applied"] is False
    assert body["cuped"]["reason"] == cuped_module.CONSTANT
    assert body["comparisons"][0] == raw_compare("click_rate")


def test_too_few_visitors_or_a_single_variant_say_why(db):
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    assert slot_results("hero", DAY.date(), today().date())["cuped"]["reason"] == cuped_module.TOO_FEW
    slot_create("solo", strategy="fixed", variants=[("a", 1)], default="a")
    assert slot_results("solo", DAY.date(), today().date())["cuped"]["reason"] == cuped_module.SINGLE


@pytest.fixture
def api(experiment_log, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    return experiment_log[0]


def test_the_api_and_the_command_carry_the_cuped_member_and_the_switch(client, api):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    body = client.get(URL, **auth).json()
    assert set(body) == CONTRACT | {"cuped"}
    assert body == slot_results_recent("hero")
    assert body["cuped"]["applied"] is True
    documented = SlotResultsOutputSerializer(data=body)
    assert documented.is_valid(), documented.errors

    off = client.get(URL, {"cuped": "0"}, **auth).json()
    assert off == slot_results_recent("hero", cuped=False)
    assert off["cuped"]["applied"] is False
    experiment = client.get(URL, {"experiment": "exp", "cuped": "false"}, **auth).json()
    assert experiment == experiment_results(api, cuped=False)
    assert experiment["cuped"]["applied"] is False
    assert SlotResultsOutputSerializer(data=experiment).is_valid()

    bad = client.get(URL, {"cuped": "maybe"}, **auth)
    assert bad.status_code == 400
    assert "cuped" in bad.json()

    out = io.StringIO()
    call_command("results", "--slot", "hero", "--json", "--no-cuped", stdout=out)
    assert json.loads(out.getvalue())["cuped"]["applied"] is False
    out = io.StringIO()
    call_command("results", "--slot", "hero", stdout=out)
    assert "CUPED: adjusted for prior visits" in out.getvalue()


def test_the_schema_documents_the_switch_and_the_member(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/slots/{key}/results/"]["get"]
    assert "cuped" in {parameter["name"] for parameter in operation["parameters"]}
    output = schema["components"]["schemas"]["SlotResultsOutput"]
    assert "cuped" in output["required"]
    member = schema["components"]["schemas"]["ResultsCuped"]
    assert set(member["properties"]) == {"covariate", "applied", "variance_reduction", "reason"}
