"""A bandit learning per context cell, end to end: decisions API, events, fold, and the allocation per cell."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from personalization.models import BanditAllocation, BanditArm
from personalization.serving.bandits import slot_allocations
from tests.factories.slots import slot_create
from tests.personalization.learning.test_bandit_posteriors import bandit_slot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bandit_settings")]

# Mobile visitors click "a", desktop visitors "b": neither is best for everyone.
RATES = {"mobile": {"a": 0.6, "b": 0.05, "c": 0.05}, "desktop": {"a": 0.05, "b": 0.6, "c": 0.05}}


def visit(client, device: str, seen: dict) -> str:
    visitor = str(uuid.uuid4())
    body = {"slots": ["hero-bandit"], "context": {"device": device}}
    answer = client.post(
        "/api/v1/decisions/", data=json.dumps(body), content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    ).json()["decisions"][0]
    key = answer["variant"]["key"]
    seen[device, key] = seen.get((device, key), 0) + 1
    rate = RATES[device][key]
    if int(seen[device, key] * rate) > int((seen[device, key] - 1) * rate):  # deterministic: rate of visitors click
        event = {"id": str(uuid.uuid4()), "ts": int(time.time() * 1000), "type": "click"}
        event["decision_id"] = answer["decision_id"]
        client.post(
            "/api/v1/events/", data=json.dumps({"events": [event]}), content_type="application/json",
            HTTP_X_TAILOR_VISITOR=visitor,
        )  # fmt: skip
    return key


def test_each_device_gets_its_own_allocation_and_its_favourite_wins(client):
    from personalization.learning.bandits import bandits_fold

    bandit_slot(bandit_context=["device"])
    seen: dict = {}
    for _ in range(3):
        for _ in range(40):
            visit(client, "mobile", seen)
            visit(client, "desktop", seen)
        bandits_fold()

    segments = set(BanditArm.objects.filter(slot_key="hero-bandit").values_list("segment", flat=True))
    assert segments == {"@mobile", "@desktop"}  # counted per cell, never for the whole slot
    allocations = slot_allocations("hero-bandit")
    assert set(allocations) == {"", "@mobile", "@desktop"}
    assert max(allocations["@mobile"].probabilities.items(), key=lambda kv: kv[1])[0] == "a"
    assert max(allocations["@desktop"].probabilities.items(), key=lambda kv: kv[1])[0] == "b"
    assert allocations["@mobile"].probabilities["a"] > 0.9
    # The pool (what a cell with no allocation yet is served) sums both: a and b are about even there.
    pooled = allocations[""].probabilities
    assert pooled["c"] < min(pooled["a"], pooled["b"])
    assert BanditAllocation.objects.filter(slot_key="hero-bandit").count() == 3


def test_only_the_busiest_cells_get_an_allocation(client, settings):
    from personalization.learning.bandits import bandits_fold

    settings.TAILOR = {**settings.TAILOR, "BANDIT_MAX_CELLS": 1}
    bandit_slot(bandit_context=["device"])
    seen: dict = {}
    for _ in range(12):
        visit(client, "mobile", seen)
    for _ in range(4):
        visit(client, "desktop", seen)
    bandits_fold()

    assert set(slot_allocations("hero-bandit")) == {"", "@mobile"}
    # A desktop visitor is served the pool, and still counted for their own cell.
    visit(client, "desktop", seen)
    bandits_fold()
    assert BanditArm.objects.filter(slot_key="hero-bandit", segment="@desktop").count() > 0


def test_the_slot_editor_saves_the_fields_and_refuses_more_than_three(admin_client):
    from content.models import Slot
    from tests.content.test_slot_form import form_errors, slot_post

    # Tuples: the form-data helper would spread a list over bandit_context-0, -1...
    response = slot_post(
        admin_client, ["a", "b"], strategy="bandit", bandit_context=("device", "os", "browser", "country")
    )
    assert "at most 3" in form_errors(response)["bandit_context"][0]
    response = slot_post(admin_client, ["a", "b"], strategy="bandit", bandit_context=("devise",))
    assert "devise" in form_errors(response)["bandit_context"][0]

    slot_post(admin_client, ["a", "b"], strategy="bandit", bandit_context=("device", "utm_source"))
    assert Slot.objects.get(key="form-slot").bandit_context == ["device", "utm_source"]


def test_every_context_field_the_editor_offers_is_one_the_engine_reads():
    from content.models import BANDIT_CONTEXT_CHOICES, BANDIT_CONTEXT_MAX
    from personalization.engine.bandits import CELL_FIELDS, CELL_FIELDS_MAX

    assert [name for name, _ in BANDIT_CONTEXT_CHOICES] == list(CELL_FIELDS)
    assert BANDIT_CONTEXT_MAX == CELL_FIELDS_MAX


def test_a_slot_without_cells_learns_for_the_whole_slot_as_before(client):
    from personalization.learning.bandits import bandits_fold

    slot_create("hero-bandit", strategy="bandit", variants=[("a", 1), ("b", 1), ("c", 1)])
    seen: dict = {}
    for _ in range(10):
        visit(client, "mobile", seen)
    bandits_fold()
    assert set(BanditArm.objects.filter(slot_key="hero-bandit").values_list("segment", flat=True)) == {""}


def device_only_evidence(fields: list[str]) -> None:
    """A bandit slot listing ``fields`` whose cells' clicks depend on the device only (browser: ±10 %, noise)."""
    from django.utils import timezone

    bandit_slot(bandit_context=fields)
    now = timezone.now()
    for device in ("mobile", "desktop"):
        for browser in ("chrome", "firefox"):
            for variant in "abc":
                BanditArm.objects.create(
                    slot_key="hero-bandit", segment=f"@{device}.{browser}", variant_key=variant, n=100,
                    total=100 * RATES[device][variant] * (1.1 if browser == "chrome" else 0.9), updated_at=now,
                )  # fmt: skip


def test_a_field_that_predicts_nothing_is_learned_across_and_the_ones_that_do_are_kept():
    # Listed fields: device and browser. Clicks depend on the device only, so mobile Chrome and mobile
    # Firefox visitors share their evidence (and their allocation); desktop ones learn apart from them.
    from content.selectors import slot_definitions_live
    from personalization.learning.bandits import allocations_refresh

    device_only_evidence(["device", "browser"])
    allocations_refresh(slot_definitions_live())

    published = {a.segment: a for a in BanditAllocation.objects.filter(slot_key="hero-bandit")}
    assert published["@mobile.chrome"].version == published["@mobile.firefox"].version
    assert published["@desktop.chrome"].version == published["@desktop.firefox"].version
    assert published["@mobile.chrome"].version != published["@desktop.chrome"].version
    assert published["@mobile.firefox"].probabilities["a"] > 0.9
    assert published["@desktop.firefox"].probabilities["b"] > 0.9


def test_the_results_dashboard_says_which_fields_the_bandit_learns_by(admin_client):
    from django.urls import reverse

    from content.selectors import slot_definitions_live
    from personalization.learning.bandits import allocations_refresh

    device_only_evidence(["device", "browser"])
    allocations_refresh(slot_definitions_live())
    html = admin_client.get(reverse("tailor_results:slot", args=["hero-bandit"])).content.decode()
    assert "Learning apart by Device." in html
    assert "No difference seen by Browser so far" in html
