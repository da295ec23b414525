"""DISCARD, the sink of previews and of excluded editors' visits: nothing logged, no exposure kept for caps."""

from __future__ import annotations

import uuid

from django.core.cache import cache

from personalization.serving.decide import decide
from personalization.serving.exposures import exposures_key
from tests.personalization.serving.test_caps import compiled_slot
from tracking.decision_sinks import DISCARD, DecisionBatchUnless
from tracking.visitors import VisitorState


def test_a_capped_slot_decided_into_discard_keeps_no_exposure_and_still_applies_the_caps():
    slot = compiled_slot("split", (1, 1, 1), "a", cap_per_visit=1)
    visitor = VisitorState(id=str(uuid.uuid4()))
    shown = {decide(slot, visitor, {}, sink=DISCARD).variant.key for _ in range(30)}
    assert len(shown) == 1  # sticky, and never capped away: nothing it showed was counted
    assert cache.get(exposures_key(visitor.id)) is None
    assert not DISCARD
    assert DISCARD.take() == []
    assert DISCARD.cache_take() == {}


def test_a_request_batch_asks_whether_to_discard_once_and_only_when_a_decision_is_made():
    asked: list[bool] = []

    def excluded() -> bool:
        asked.append(True)
        return True

    batch = DecisionBatchUnless(excluded)
    assert not batch
    assert asked == []  # a request that decides nothing never loads its user
    slot = compiled_slot("split", (1, 1, 1), "a", cap_per_visit=1)
    for _ in range(3):
        decide(slot, VisitorState(id=str(uuid.uuid4())), {}, sink=batch)
    assert asked == [True]
    assert not batch
    assert batch.take() == []
    assert batch.cache_take() == {}
