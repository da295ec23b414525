"""Bandit posteriors: the fold is idempotent and discounts by the hour; a rebuild from the log gives what the fold gave.

These run on the embedded default (the online counts in the in-process cache); the same paths on Redis and
PostgreSQL are in tests/integration/test_bandit_redis.py.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.utils import timezone

from content.selectors import slot_definitions_live
from personalization.engine.bandits import ArmStats, allocation_compute
from personalization.learning.bandits import allocations_refresh, bandits_fold, bandits_rebuild, slot_arm_stats
from personalization.models import BanditAllocation, BanditArm
from personalization.serving import bandits as serving
from tests.factories.slots import slot_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bandit_settings")]


def bandit_slot(key: str = "hero-bandit", **fields):
    slot = slot_create(key, strategy="bandit", variants=[("a", 1), ("b", 1), ("c", 1)])
    if fields:
        for name, value in fields.items():
            setattr(slot, name, value)
        slot.save_revision().publish()
    return slot


def traffic(client, visitors: int, clicks: dict[str, float], *, conversion: float = 0.0) -> None:
    """Visitors through the decisions API; each clicks (and converts) by their variant's rate, deterministically."""
    seen = {"a": 0, "b": 0, "c": 0}
    for _ in range(visitors):
        visitor = str(uuid.uuid4())
        body = json.dumps({"slots": ["hero-bandit"]})
        answer = client.post(
            "/api/v1/decisions/", data=body, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
        ).json()["decisions"][0]
        key = answer["variant"]["key"]
        seen[key] += 1
        events = []
        if seen[key] * clicks[key] >= 1 and (seen[key] * clicks[key]) % 1 < clicks[key]:
            events.append({"type": "click", "decision_id": answer["decision_id"]})
        if conversion and key == "a":
            events.append({"type": "conversion", "value": conversion})
        if events:
            now = int(time.time() * 1000)
            body = json.dumps({"events": [{"id": str(uuid.uuid4()), "ts": now, **e} for e in events]})
            client.post("/api/v1/events/", data=body, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor)


def posterior(slot: str = "hero-bandit") -> dict[tuple[str, str], tuple[float, float, float]]:
    return {
        (r.segment, r.variant_key): (round(r.n, 9), round(r.total, 9), round(r.squares, 9))
        for r in BanditArm.objects.filter(slot_key=slot)
    }


def test_the_fold_is_idempotent(client):
    bandit_slot()
    bandits_fold()
    traffic(client, 30, {"a": 0.5, "b": 0.25, "c": 0.0})
    first = bandits_fold()
    assert first.arms > 0
    after_first = posterior()
    version = BanditAllocation.objects.get(slot_key="hero-bandit").version
    again = bandits_fold()
    assert again.arms == 0
    assert posterior() == after_first
    # The same evidence gives the same allocation and version: visitors keep their variant.
    assert BanditAllocation.objects.get(slot_key="hero-bandit").version == version
    assert sum(n for n, _, _ in after_first.values()) == 30


def test_a_second_fold_while_one_runs_does_nothing():
    bandit_slot()
    lock = serving.fold_lock()
    assert lock.acquire(blocking=False)
    try:
        assert bandits_fold().skipped
        assert bandits_rebuild().skipped
    finally:
        lock.release()
    assert not bandits_fold().skipped


def test_old_evidence_fades_by_the_slots_discount_per_hour(client):
    bandit_slot(bandit_discount=0.5)
    start = timezone.now()
    bandits_fold(now=start)
    traffic(client, 12, {"a": 1.0, "b": 1.0, "c": 1.0})
    bandits_fold(now=start)
    before = posterior()
    traffic(client, 1, {"a": 1.0, "b": 1.0, "c": 1.0})
    bandits_fold(now=start + timedelta(hours=2))
    after = posterior()
    changed = [arm for arm in after if after[arm] != before.get(arm)]
    assert len(changed) == 1  # the one new decision's arm: a quarter of its old evidence, plus one
    old_n, old_total, _ = before.get(changed[0], (0.0, 0.0, 0.0))
    assert after[changed[0]][:2] == pytest.approx((old_n * 0.25 + 1, old_total * 0.25 + 1))
    # The others' rows keep their "as of" sums; the allocation reads them faded to now.
    definition = slot_definitions_live()["hero-bandit"]
    rows = {(r.slot_key, r.segment, r.variant_key): r for r in BanditArm.objects.all()}
    faded = {s.key: s.n for s in slot_arm_stats(definition, rows, "", start + timedelta(hours=2))}
    for arm, (n, _, _) in before.items():
        if arm not in changed:
            assert faded[arm[1]] == pytest.approx(n * 0.25)


def test_a_rebuild_after_the_counts_are_lost_gives_the_posterior_the_fold_gave(client):
    bandit_slot(reward="weighted")  # clicks 1, conversions 5: a Gaussian reward with exact squares
    bandits_fold()
    traffic(client, 40, {"a": 0.5, "b": 0.25, "c": 0.1}, conversion=20.0)
    bandits_fold()
    folded = posterior()
    allocation = BanditAllocation.objects.get(slot_key="hero-bandit").probabilities
    cache.clear()  # the in-process counts die with the process (on Redis: FLUSHALL, or a restart)
    report = bandits_fold()
    assert report.rebuilt
    assert report.decisions == 40
    assert posterior() == folded
    assert BanditAllocation.objects.get(slot_key="hero-bandit").probabilities == allocation


def test_the_rebuild_discounts_each_decision_by_its_age(client):
    bandit_slot(bandit_discount=0.9)
    bandits_fold()
    traffic(client, 10, {"a": 1.0, "b": 1.0, "c": 1.0})
    report = bandits_rebuild(now=timezone.now() + timedelta(hours=3))
    assert report.decisions == 10
    assert sum(n for n, _, _ in posterior().values()) == pytest.approx(10 * 0.9**3, rel=1e-4)


def test_a_failed_database_write_puts_the_counts_back(client, monkeypatch):
    bandit_slot()
    bandits_fold()
    traffic(client, 5, {"a": 1.0, "b": 1.0, "c": 1.0})

    def refuse(*args, **kwargs):
        raise DatabaseError("the database is down")

    monkeypatch.setattr(BanditArm.objects, "bulk_create", refuse)
    with pytest.raises(DatabaseError):
        bandits_fold()
    monkeypatch.undo()
    bandits_fold()
    assert sum(n for n, _, _ in posterior().values()) == 5


def test_the_rebuild_command_checks_the_slot_and_reports(client, capsys):
    bandit_slot()
    slot_create("fixed-slot")
    traffic(client, 6, {"a": 1.0, "b": 0.0, "c": 0.0})
    with pytest.raises(CommandError, match="bandit strategy"):
        call_command("bandit_rebuild", "--slot", "fixed-slot")
    call_command("bandit_rebuild", "--slot", "hero-bandit")
    assert "from 6 bandit decisions" in capsys.readouterr().out
    assert sum(n for n, _, _ in posterior().values()) == 6


def test_the_fold_centres_every_arms_prior_on_the_slots_pooled_rate():
    slot_create("hero-bandit", strategy="bandit", variants=[("a", 1), ("b", 1)])
    now = timezone.now()
    for variant, n, total in (("a", 400, 20), ("b", 10, 0)):  # 5 % on a; b barely tried
        BanditArm.objects.create(
            slot_key="hero-bandit", segment="", variant_key=variant, n=n, total=total, updated_at=now
        )
    allocations_refresh(slot_definitions_live(), now=now)
    published = BanditAllocation.objects.get(slot_key="hero-bandit", segment="")
    arms = [ArmStats("a", 400, 20), ArmStats("b", 10, 0)]
    expected = allocation_compute(arms, floor=0.01, prior_rate=21 / 412)
    uniform = allocation_compute(arms, floor=0.01)
    assert published.method == "closed-form"
    assert published.probabilities == pytest.approx(dict(expected.probabilities), abs=1e-12)
    # Under Beta(1, 1), b's ten misses would still win more than half of the traffic from a's 5 %.
    assert uniform.probabilities["b"] > 0.5 > 0.3 > published.probabilities["b"]
