"""Continuous retraining: a model slot retrains after N new decisions with a known outcome, not sooner than the minimum interval."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.models import Slot
from demo.simulation import SLOT_KEY, simulation_slot_ensure, traffic_run
from personalization.conf import setting
from personalization.learning.retraining import ATTEMPT_KEY, models_retrain_due
from personalization.models import ModelVersion
from tracking.models import Event

pytestmark = pytest.mark.django_db

WINDOW = 30 * 60  # tracking's ATTRIBUTION_WINDOW_SECONDS default
INTERVAL = 300  # RETRAIN_MIN_INTERVAL_SECONDS default


class _Trained(str):
    """Equal to either outcome of a training run."""

    def __eq__(self, other: object) -> bool:
        return other in ("promoted", "candidate")

    __hash__ = str.__hash__


TRAINED = _Trained("promoted or candidate")


def hero_publish(**fields) -> None:
    slot = Slot.objects.get(key=SLOT_KEY)
    for name, value in fields.items():
        setattr(slot, name, value)
    slot.save_revision().publish()


@pytest.fixture
def hero():
    marks = caches[setting("CATALOG_CACHE")]
    marks.delete(ATTEMPT_KEY.format(slot=SLOT_KEY))  # the shared cache outlives a test's database
    simulation_slot_ensure()
    hero_publish(retrain_every=200)
    yield
    marks.delete(ATTEMPT_KEY.format(slot=SLOT_KEY))


def test_a_slot_retrains_when_enough_outcomes_are_known_and_not_sooner_than_the_interval(hero):
    rng = random.Random(2)
    assert models_retrain_due() == {}  # no decision yet
    traffic_run(150, rng)
    assert models_retrain_due() == {}  # 150 of the 200 needed
    traffic_run(100, rng)
    # Trained (promoted or kept as a candidate: on 250 rows the evaluation may not tell).
    assert models_retrain_due() == {SLOT_KEY: TRAINED}
    assert ModelVersion.objects.filter(slot_key=SLOT_KEY).count() == 1

    traffic_run(250, rng)
    now = timezone.now()
    assert models_retrain_due(now) == {}  # enough outcomes, but trained moments ago
    assert models_retrain_due(now + timedelta(seconds=INTERVAL + 1)) == {SLOT_KEY: TRAINED}
    assert ModelVersion.objects.filter(slot_key=SLOT_KEY).count() == 2
    # Counted from the decisions the newest version read: nothing new since.
    assert models_retrain_due(now + timedelta(seconds=2 * INTERVAL + 2)) == {}


def test_decisions_nobody_saw_count_only_once_the_attribution_window_has_passed(hero):
    traffic_run(250, random.Random(4))
    Event.objects.filter(type=Event.Type.IMPRESSION).delete()  # shown, but no tracker reported them seen
    now = timezone.now()
    assert models_retrain_due(now) == {}
    assert models_retrain_due(now + timedelta(seconds=WINDOW + 1)) == {SLOT_KEY: TRAINED}


def test_beat_only_slots_and_other_strategies_never_retrain_here(hero):
    hero_publish(retrain_every=0)
    traffic_run(250, random.Random(6))
    assert models_retrain_due() == {}
    assert not ModelVersion.objects.exists()


def test_nothing_due_costs_one_aggregate_query_on_the_decision_log(hero):
    traffic_run(120, random.Random(8))
    models_retrain_due()  # the catalog is built on first use
    with CaptureQueriesContext(connection) as queries:
        assert models_retrain_due() == {}
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("tracking_decisionlog" in s for s in sql) == 1, sql
    assert len(sql) == 2, sql  # and the newest model version per slot


def test_a_failed_attempt_waits_for_the_interval(hero):
    traffic_run(250, random.Random(10))
    Event.objects.filter(type=Event.Type.CLICK).delete()  # no reward at all: nothing to learn
    outcome = models_retrain_due()
    assert outcome[SLOT_KEY].startswith("not trained: ")
    assert models_retrain_due() == {}  # not retried at once
