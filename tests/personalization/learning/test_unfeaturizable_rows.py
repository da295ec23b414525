"""A logged decision whose context cannot be featurized is skipped and counted, never fails training or scoring.

Such rows exist from before the API bounded its numbers (``"visit_count": 10**400`` was
accepted and logged, then overflowed a float in every scoring run) or from hand-written imports.
"""

from __future__ import annotations

import random
import uuid

import pytest
from django.utils import timezone

from content.models import Slot
from demo.simulation import SLOT_KEY, simulation_slot_ensure, traffic_run
from personalization.learning.scoring import visitors_score
from personalization.learning.training import model_train
from tracking.metrics import ROWS_SKIPPED
from tracking.models import DecisionLog, Visitor

pytestmark = pytest.mark.django_db

UNFEATURIZABLE = [
    {"device": "mobile", "visit_count": 10**400},
    {"device": "desktop", "attributes": {"score": -(10**400)}},
    {"hour": 10**400},
    {"features": {"clicks": 10**400}},
    {"utm": "not a mapping"},
]


def skipped(job: str) -> float:
    return ROWS_SKIPPED.labels(job=job)._value.get()


def rows_insert() -> list[str]:
    now = timezone.now()
    visitors = []
    for context in UNFEATURIZABLE:
        visitor = uuid.uuid4()
        Visitor.objects.create(id=visitor, last_seen_at=now)
        DecisionLog.objects.create(
            id=uuid.uuid4(),
            created_at=now,
            visitor_id=visitor,
            slot_key=SLOT_KEY,
            variant_key="hero-default",
            policy="model",
            policy_version="0",
            propensity=0.25,
            context=context,
        )
        visitors.append(str(visitor))
    return visitors


def test_training_and_scoring_skip_and_count_rows_they_cannot_featurize():
    simulation_slot_ensure()
    hero = Slot.objects.get(key=SLOT_KEY)
    hero.exploration = "epsilon"  # Thompson would serve these visitors' cells from its table, scoring none of them
    hero.save_revision().publish()
    traffic_run(300, random.Random(21))
    rows_insert()
    before = skipped("training")
    report = model_train(SLOT_KEY, seed=21)
    assert report.version_id is not None  # a model was trained on the rest
    assert skipped("training") - before == len(UNFEATURIZABLE)

    # Scoring reads each visitor's features fresh, so only the other four last contexts are unreadable to it.
    before = skipped("scoring")
    cached = visitors_score()
    assert cached == Visitor.objects.count() - 4
    assert skipped("scoring") - before == 4
