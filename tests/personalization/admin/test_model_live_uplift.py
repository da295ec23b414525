"""The Models screen puts a model's offline estimate beside its live uplift over the slot's holdout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from personalization.models import GroupDay, ModelVersion
from tests.factories.slots import slot_create
from tests.factories.users import editor_client

pytestmark = pytest.mark.django_db

INDEX_URL = "/admin/tailor/models/"


def today():
    # Read when a test runs, not when the module is collected: a suite may cross midnight (UTC).
    return datetime.now(UTC).date()


ESTIMATES = {
    "candidate": {"dr": {"value": 0.06, "ci95": [0.05, 0.07], "n": 900}},
    "uniform": {"dr": {"value": 0.05, "ci95": [0.04, 0.06], "n": 900}},
    "serving": {"dr": {"value": 0.05, "ci95": [0.04, 0.06], "n": 900}},
}


@pytest.fixture
def viewer(django_user_model):
    return editor_client(django_user_model, "viewer", "view_modelversion")


def model_slot(key: str, *, holdout: float, activated_days_ago: int = 6) -> ModelVersion:
    slot_create(key, strategy="model", variants=[("a", 1), ("b", 1)], default="a", holdout=holdout)
    return ModelVersion.objects.create(
        slot_key=key,
        status=ModelVersion.Status.ACTIVE,
        model_text="",
        estimates=ESTIMATES,
        activated_at=timezone.now() - timedelta(days=activated_days_ago),
    )


def cohorts(key: str, group: str, visitors: int, clicked: int, *, days: range) -> None:
    GroupDay.objects.bulk_create(
        GroupDay(
            slot_key=key,
            group=group,
            day=today() - timedelta(days=offset),
            visitors=visitors,
            visitors_clicked=clicked,
            updated_at=timezone.now(),
        )
        for offset in days
    )


def test_the_offline_estimate_sits_beside_the_measured_live_uplift(viewer, db):
    model_slot("picks", holdout=0.1)
    cohorts("picks", "", 900, 90, days=range(7))  # 10 % clicked
    cohorts("picks", "holdout", 100, 5, days=range(7))  # 5 % clicked
    cohorts("picks", "", 900, 0, days=range(7, 30))  # before the model served: not its window
    cohorts("picks", "holdout", 100, 50, days=range(7, 30))

    html = viewer.get(INDEX_URL).content.decode()

    assert "Offline estimate" in html
    assert "<strong>+20 %</strong> over uniform random" in html  # 0.06 / 0.05, stated as the dashboard does
    assert "Measured live uplift over doing nothing" in html
    # Since the activation day: 7 days of 900 against 100: 10 % against 5 %, +100 %.
    assert "<strong>+100 % (95 %, look any time: " in html
    assert "6,300 visitors served by the model against 700 held out on the default (10%)" in html
    assert f"Measured live since {(today() - timedelta(days=6)).isoformat()}" in html


def test_without_a_holdout_the_screen_says_how_to_measure_it(viewer, db):
    model_slot("picks", holdout=0.0)

    html = viewer.get(INDEX_URL).content.decode()

    assert "No holdout: set a holdout share on the slot to measure it live." in html
    assert "<strong>+20 %</strong> over uniform random" in html


def test_a_holdout_without_traffic_yet_is_not_measured(viewer, db):
    model_slot("picks", holdout=0.05, activated_days_ago=0)

    html = viewer.get(INDEX_URL).content.decode()

    assert "<strong>not measured yet</strong> against the holdout" in html


def test_a_slot_no_longer_on_the_model_strategy_shows_no_live_uplift(viewer, db):
    slot_create("rules", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.1)
    ModelVersion.objects.create(slot_key="rules", status=ModelVersion.Status.ACTIVE, model_text="", estimates=ESTIMATES)

    html = viewer.get(INDEX_URL).content.decode()

    assert "Offline estimate" in html
    assert "Measured live uplift" not in html


def test_the_screen_reads_slots_once_whatever_their_number(viewer, db, django_assert_max_num_queries):
    for i in range(3):
        model_slot(f"m{i}", holdout=0.0)
    viewer.get(INDEX_URL)
    with django_assert_max_num_queries(30) as few:
        viewer.get(INDEX_URL)
    for i in range(3, 10):
        model_slot(f"m{i}", holdout=0.0)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert viewer.get(INDEX_URL).content.decode().count("No holdout:") == 10
