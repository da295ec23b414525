"""Results on one goal among several: ``goal:<key>`` and ``goal_value:<key>``, from the rollup's ``GoalDay`` rows."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from personalization.models import GoalDay
from personalization.results.dashboard import slot_dashboard
from personalization.results.experiments import experiment_results, holdout_uplift
from personalization.results.rollup import results_rollup
from personalization.results.selectors import metric_get, slot_results, window_days
from tests.factories.experiments import experiment_create
from tests.factories.slots import slot_create
from tracking.models import DecisionLog, Event, Goal

from .conftest import decision, event, seen

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-results-token-0123456789"
URL = "/api/v1/slots/hero/results/"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def converted(visitor, when: datetime, goal: str | None, value: float | None = None) -> None:
    """A conversion as ingest stores a goal's: type "conversion", ``props.goal`` the goal's key."""
    Event.objects.create(
        id=uuid.uuid4(),
        visitor_id=visitor,
        type="conversion",
        ts=when,
        received_at=when,
        value=value,
        props={"goal": goal} if goal else {},
    )


def traffic(**policy) -> None:
    """Ten visitors per variant, each seen at NOW, then (by hand) these conversions after exposure:

    a: signup by 0, 1, 2 and 4; order by 3 (50) and 4 (30); 5's signup came before exposure: not counted.
    b: signup by 0..5; 6 converts without a goal (a conversion, but no goal's).
    Plus a visitor of b never shown the slot (no impression) who signs up: not exposed, not counted.
    """
    later = NOW + timedelta(minutes=5)
    for variant in ("a", "b"):
        for i in range(10):
            visitor = uuid.uuid4()
            if variant == "a" and i == 5:
                converted(visitor, NOW - timedelta(minutes=1), "signup")
            seen(visitor, variant, NOW, **policy)
            if (variant == "a" and i in (0, 1, 2, 4)) or (variant == "b" and i <= 5):
                converted(visitor, later, "signup")
            if variant == "a" and i == 3:
                converted(visitor, later, "order", 50.0)
            if variant == "a" and i == 4:
                converted(visitor, later + timedelta(minutes=1), "order", 30.0)
            if variant == "b" and i == 6:
                converted(visitor, later, None)
    unseen = uuid.uuid4()
    decision(unseen, "b", NOW, **policy)
    converted(unseen, later, "signup")


@pytest.fixture
def goals(db):
    Goal.objects.create(key="signup", name="Signed up", kind="event", live=True)
    Goal.objects.create(key="order", name="Ordered", kind="event", value=None, site_value=True, live=True)


@pytest.fixture
def hero(goals, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    return slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.1)


def arms(body: dict) -> dict[str, tuple[int, float]]:
    return {v["key"]: (v["visitors"], v["conversions"]) for v in body["variants"]}


def goal_rows() -> set[tuple]:
    return set(
        GoalDay.objects.values_list(
            "slot_key",
            "group",
            "variant_key",
            "day",
            "goal",
            "conversions",
            "visitors_converted",
            "value_sum",
            "value_squares",
        )
    )


def test_a_goal_metric_counts_only_that_goals_converters_after_exposure(hero):
    traffic()
    results_rollup()
    start, end = window_days(14)

    signup = slot_results("hero", start, end, "goal:signup")
    assert signup["metric"] == "goal:signup"
    assert arms(signup) == {"a": (10, 4), "b": (10, 6)}
    assert {v["key"]: v["rate"] for v in signup["variants"]} == {"a": 0.4, "b": 0.6}
    assert arms(slot_results("hero", start, end, "goal:order")) == {"a": (10, 2), "b": (10, 0)}
    value = slot_results("hero", start, end, "goal_value:order")
    assert arms(value) == {"a": (10, 80.0), "b": (10, 0.0)}
    assert value["variants"][0]["rate"] == pytest.approx(8.0)
    # Every conversion together, as before: a's 0..4, b's 0..6 (the goalless one included).
    assert arms(slot_results("hero", start, end, "conversion_rate")) == {"a": (10, 5), "b": (10, 7)}

    rows = {(r[2], r[4]): r for r in goal_rows() if r[1] == ""}
    assert rows[("a", "order")][8] == pytest.approx(50.0**2 + 30.0**2)  # Σ per-visitor value²
    assert rows[("a", "signup")][5] == 4  # decisions credited with the goal (traffic)


def test_rerunning_the_rollup_gives_the_same_rows_and_drops_a_goal_left_without_data(hero):
    traffic()
    results_rollup()
    first = goal_rows()
    assert first
    results_rollup()
    assert goal_rows() == first

    Event.objects.filter(type="conversion", props__goal="order").delete()
    results_rollup()
    assert {row for row in goal_rows() if row[4] == "order"} == set()
    assert {row for row in goal_rows() if row[4] == "signup"} == {row for row in first if row[4] == "signup"}


def test_an_experiment_on_a_goal_reports_per_arm_rates_matching_a_hand_count(hero):
    experiment = experiment_create(
        hero,
        "exp",
        variants=("a", "b"),
        starts_at=timezone.now() - timedelta(days=2),
        minimum_sample=10,
        primary_metric="goal:signup",
        guardrail_metrics=["goal:order", "click_rate"],
    )
    traffic(policy="experiment", policy_version="exp")
    seen(uuid.uuid4(), "a", NOW)  # the slot's own traffic: not the experiment's
    results_rollup()

    body = experiment_results(experiment)
    assert body["metric"] == "goal:signup"
    assert arms(body) == {"a": (10, 4), "b": (10, 6)}
    assert [c["lift"] for c in body["comparisons"]] == [pytest.approx(0.6 / 0.4 - 1)]
    guardrails = {(g["metric"], g["variant"]) for g in body["experiment"]["guardrails"]}
    assert guardrails == {("goal:order", "b"), ("click_rate", "b")}
    order = next(g for g in body["experiment"]["guardrails"] if g["metric"] == "goal:order")
    assert order["lift"] == pytest.approx(-1.0)  # a 2/10, b 0/10

    shown = slot_dashboard("hero", days=14, experiment="exp")
    assert shown.metric_name == "Goal: Signed up"
    assert [line.rate for line in shown.lines] == ["40.00%", "60.00%"]
    # The chart's last point is the table's figure.
    assert [v.rates[-1] for v in shown.series.variants] == [0.4, 0.6]


def test_the_holdout_compares_a_goal_over_each_groups_visitors(hero):
    traffic()  # the slot's strategy: 20 visitors, 10 signed up
    for i in range(5):
        visitor = uuid.uuid4()
        seen(visitor, "a", NOW, policy="holdout", policy_version="1")
        if i == 0:
            converted(visitor, NOW + timedelta(minutes=5), "signup")
    results_rollup()
    start, end = window_days(14)

    body = holdout_uplift("hero", start, end, "goal:signup")
    assert arms(body) == {"holdout": (5, 1), "served": (20, 10)}


def test_results_api_reads_a_goal_and_names_metric_for_an_unknown_one(hero, client):
    traffic()
    results_rollup()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    answer = client.get(URL, {"metric": "goal:signup"}, **auth)
    assert answer.status_code == 200, answer.content
    assert arms(answer.json()) == {"a": (10, 4), "b": (10, 6)}
    said = {}
    for bad in ("goal:nope", "goal:", "goal_value:nope", "signup"):
        answer = client.get(URL, {"metric": bad}, **auth)
        assert answer.status_code == 400, (bad, answer.content)
        assert list(answer.json()) == ["metric"], answer.json()
        said[bad] = answer.json()["metric"][0]
    assert said["goal:nope"] == "no goal has the key 'nope' (goals: order, signup)"
    assert "goal:<goal key>" in said["signup"]


def test_results_command_reads_a_goal_metric(hero):
    traffic()
    out = io.StringIO()
    call_command("results", slot="hero", metric="goal:signup", json=True, stdout=out)
    assert arms(json.loads(out.getvalue())) == {"a": (10, 4), "b": (10, 6)}
    table = io.StringIO()
    call_command("results", slot="hero", metric="goal:order", stdout=table)
    assert "20.00%" in table.getvalue()
    with pytest.raises(CommandError, match="metric: no goal has the key 'nope'"):
        call_command("results", slot="hero", metric="goal:nope", stdout=io.StringIO())


def test_a_goal_metric_is_known_once_its_goal_exists(goals):
    assert metric_get("goal:signup").goal == "signup"
    assert metric_get("goal_value:order").kind == "mean"
    with pytest.raises(ValueError, match="^metric: no goal has the key 'gone' \\(goals: order, signup\\)"):
        metric_get("goal:gone")


def test_clicks_and_goalless_conversions_make_no_goal_rows(hero):
    visitor = uuid.uuid4()
    shown = seen(visitor, "a", NOW)
    event(visitor, "click", NOW + timedelta(minutes=1), shown)
    converted(visitor, NOW + timedelta(minutes=2), None, 10.0)
    results_rollup()
    assert not GoalDay.objects.exists()


def test_cuped_reads_a_goals_own_covariate_sums(hero):
    traffic()
    signed_up = Event.objects.filter(type="conversion", props__goal="signup").values_list("visitor_id", flat=True)
    DecisionLog.objects.update(context={"visit_count": 1})
    DecisionLog.objects.filter(visitor_id__in=signed_up, variant_key="a").update(context={"visit_count": 3})
    DecisionLog.objects.filter(visitor_id__in=signed_up, variant_key="b").update(context={"visit_count": 2})
    results_rollup()

    crosses = dict(
        GoalDay.objects.filter(goal="signup", group="")
        .exclude(variant_key="")
        .values_list("variant_key", "pre_cross_converted")
    )
    assert crosses == {"a": 8.0, "b": 6.0}  # 4 converters with 2 prior visits; 6 with 1
    start, end = window_days(14)
    assert slot_results("hero", start, end, "goal:signup")["cuped"]["applied"] is True
    assert slot_results("hero", start, end, "goal:signup", cuped=False)["cuped"]["applied"] is False


def test_an_experiment_on_a_goal_deleted_since_is_a_400_and_a_message_not_a_500(hero, client, admin_client):
    experiment_create(
        hero, "exp", variants=("a", "b"), starts_at=timezone.now() - timedelta(days=2), primary_metric="goal:signup"
    )
    Goal.objects.filter(key="signup").delete()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    answer = client.get(URL, {"experiment": "exp"}, **auth)
    assert answer.status_code == 400, answer.content
    assert answer.json() == {"metric": ["no goal has the key 'signup' (goals: order)"]}
    assert client.get(URL, {"experiment": "exp", "metric": "click_rate"}, **auth).status_code == 200

    page = admin_client.get(reverse("tailor_results:slot", args=["hero"]), {"experiment": "exp"})
    assert page.status_code == 200
    assert "no goal has the key" in page.content.decode()
    export = admin_client.get(
        reverse("tailor_results:csv", args=["hero"]), {"experiment": "exp", "metric": "click_rate"}
    )
    assert export.status_code == 200, export.content
