"""Results of an experiment (its arms alone, SRM against its split, its sample) and of a slot's holdout."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from personalization.api.serializers import SlotResultsOutputSerializer
from personalization.models import GroupDay
from personalization.results.experiments import experiment_results, holdout_uplift
from personalization.results.rollup import results_rollup
from personalization.results.selectors import slot_results
from tests.factories.experiments import experiment_create
from tests.factories.results import variant_day_create
from tests.factories.slots import slot_create

from .conftest import event, seen

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-results-token-0123456789"
URL = "/api/v1/slots/hero/results/"
CONTRACT = {"slot", "window", "metric", "control", "srm_p_value", "variants", "comparisons", "verdict"}


def today():
    # Read when a test runs, not when the module is collected: a suite may cross midnight (UTC).
    return datetime.now(UTC).date()


def day_row(group: str, variant: str, visitors: int, clicked: int, converted: int = 0, *, slot: str = "hero"):
    variant_day_create(slot, variant, visitors, clicked, converted, group=group, day=today())


@pytest.fixture
def hero(db, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    slot = slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1), ("c", 1)], default="a", holdout=0.1)
    experiment = experiment_create(
        slot,
        "exp",
        variants=("a", "b"),
        starts_at=timezone.now() - timedelta(days=2),
        minimum_sample=1000,
        guardrail_metrics=["conversion_rate"],
    )
    return experiment


@pytest.fixture
def logged(hero):
    """Through the decision log: the experiment's arms, the strategy's traffic and the holdout."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    exp = {"policy": "experiment", "policy_version": "exp"}
    for variant, clicks in (("a", 10), ("b", 20)):
        for i in range(40):
            visitor = uuid.uuid4()
            shown = seen(visitor, variant, now, **exp)
            if i < clicks:
                event(visitor, "click", now + timedelta(minutes=1), shown)
    for variant in ("a", "c"):
        for _ in range(5):
            seen(uuid.uuid4(), variant, now, policy="split")
    for _ in range(7):
        seen(uuid.uuid4(), "a", now, policy="holdout", policy_version="1")
    results_rollup()
    return hero


def test_an_experiment_reads_its_own_arms_only(logged):
    body = experiment_results(logged)
    assert CONTRACT <= set(body)
    assert body["window"]["start"] == (timezone.now() - timedelta(days=2)).astimezone(UTC).date().isoformat()
    assert body["metric"] == "click_rate"
    assert body["control"] == "a"
    assert [(v["key"], v["visitors"], v["conversions"]) for v in body["variants"]] == [("a", 40, 10), ("b", 40, 20)]
    assert [c["variant"] for c in body["comparisons"]] == ["b"]
    assert body["srm_p_value"] == pytest.approx(1.0)  # 40 / 40 against a configured 50 / 50
    assert "The minimum sample is not reached yet: results are early." in body["verdict"]
    assert body["experiment"]["status"] == "running"
    assert body["experiment"]["split"] == {"a": 0.5, "b": 0.5}


def test_slot_results_sum_every_group_unless_given_one(logged):
    start, end = today() - timedelta(days=2), today()
    everything = {v["key"]: v["visitors"] for v in slot_results("hero", start, end)["variants"]}
    assert everything == {"a": 40 + 5 + 7, "b": 40, "c": 5}
    served = {v["key"]: v["visitors"] for v in slot_results("hero", start, end, group="")["variants"]}
    assert served == {"a": 5, "b": 0, "c": 5}


def test_srm_is_flagged_on_an_injected_imbalance(hero):
    day_row("experiment:exp", "a", 5200, 520)
    day_row("experiment:exp", "b", 4800, 480)  # 52 / 48 of 10,000 where 50 / 50 was configured
    body = experiment_results(hero)
    assert body["srm_p_value"] < 0.001
    assert body["verdict"].startswith("Do not trust these results")


def test_a_fair_split_against_unequal_weights_is_not_flagged(db):
    slot_create("hero", strategy="fixed", variants=[("a", 1), ("b", 1)], default="a")
    experiment = experiment_create("hero", "exp", variants=("a", "b"), weights=(3, 1))
    day_row("experiment:exp", "a", 7500, 750)
    day_row("experiment:exp", "b", 2500, 260)
    body = experiment_results(experiment)
    assert body["srm_p_value"] > 0.5
    assert "Do not trust" not in body["verdict"]


def test_the_minimum_sample_reached_and_a_guardrail_made_worse(hero):
    day_row("experiment:exp", "a", 5000, 500, converted=500)
    day_row("experiment:exp", "b", 5000, 650, converted=300)
    body = experiment_results(hero)
    assert "Variant b is ahead" in body["verdict"]
    assert "the minimum sample is reached" in body["verdict"]
    assert "results are early" not in body["verdict"]
    assert body["experiment"]["guardrails"] == [
        {"metric": "conversion_rate", "variant": "b", "lift": pytest.approx(-0.4), "worse": True}
    ]
    assert "Guardrail conversion rate: Variant b makes it worse (-40 %)." in body["verdict"]


def test_a_stopped_experiment_short_of_its_sample_is_inconclusive(hero):
    day_row("experiment:exp", "a", 50, 5)
    day_row("experiment:exp", "b", 50, 9)
    hero.unpublish()
    hero.refresh_from_db()
    body = experiment_results(hero)
    assert "It stopped before reaching its minimum sample (50 of 1,000 visitors per variant)" in body["verdict"]


def test_the_api_and_the_command_answer_for_an_experiment(client, logged):
    response = client.get(URL, {"experiment": "exp"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response.json() == experiment_results(logged)
    documented = SlotResultsOutputSerializer(data=response.json())
    assert documented.is_valid(), documented.errors

    out = io.StringIO()
    call_command("results", "--slot", "hero", "--experiment", "exp", "--json", stdout=out)
    assert json.loads(out.getvalue()) == experiment_results(logged)
    out = io.StringIO()
    call_command("results", "--slot", "hero", "--experiment", "exp", stdout=out)
    assert "results are early" in out.getvalue()


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"experiment": "nope"}, 404, "No experiment has the key 'nope' on the slot 'hero'."),
        ({"experiment": "exp", "days": "3"}, 400, "omit days"),
        ({"experiment": "not a slug!"}, 400, "experiment"),
    ],
)
def test_an_unknown_or_invalid_experiment_is_a_clear_4xx(client, hero, query, status, words):
    response = client.get(URL, query, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == status
    assert words in response.content.decode()


def test_an_experiment_of_another_slot_is_not_found(client, hero):
    slot_create("footer", variants=[("a", 1), ("b", 1)])
    response = client.get("/api/v1/slots/footer/results/", {"experiment": "exp"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404
    with pytest.raises(CommandError, match="No experiment has the key 'nope'"):
        call_command("results", "--slot", "hero", "--experiment", "nope", stdout=io.StringIO())


def test_holdout_uplift_compares_served_visitors_with_the_holdout(hero):
    for group, visitors, clicked in (("", 2000, 300), ("holdout", 200, 10)):
        GroupDay.objects.create(
            slot_key="hero",
            group=group,
            day=today(),
            visitors=visitors,
            visitors_clicked=clicked,
            updated_at=timezone.now(),
        )
    GroupDay.objects.create(  # an experiment's visitors are neither
        slot_key="hero",
        group="experiment:exp",
        day=today(),
        visitors=999,
        visitors_clicked=999,
        updated_at=timezone.now(),
    )
    body = holdout_uplift("hero", today() - timedelta(days=7), today(), "click_rate")
    assert CONTRACT <= set(body)
    assert body["control"] == "holdout"
    assert [(v["key"], v["visitors"], v["conversions"]) for v in body["variants"]] == [
        ("holdout", 200, 10),
        ("served", 2000, 300),
    ]
    (comparison,) = body["comparisons"]
    assert comparison["lift"] == pytest.approx(0.15 / 0.05 - 1)
    assert comparison["lift_ci95"][0] > 0
    assert body["srm_p_value"] is None
    assert "over 99 % chance to beat the holdout (default only)" in body["verdict"]


def test_holdout_uplift_from_the_log(logged):
    body = holdout_uplift("hero", today() - timedelta(days=1), today(), "click_rate")
    assert [(v["key"], v["visitors"]) for v in body["variants"]] == [("holdout", 7), ("served", 10)]
