"""A visitor's export says why each of their decisions showed what it did, as the decisions API does."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories.models import model_slot_trained
from tests.factories.slots import segment_create, slot_create
from tracking import export_hooks
from tracking.selectors import visitor_export

pytestmark = pytest.mark.django_db


def decide(client, visitor: str, slot: str, context: dict) -> dict:
    body = {"slots": [slot], "context": context, "explain": True, "visitor_id": visitor}
    response = client.post("/api/v1/decisions/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    return response.json()["decisions"][0]


def test_each_exported_decision_carries_its_explanation(client):
    phones = segment_create("on-phones", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create("ruled-hero", strategy="rules", rules=[("on-phones", "b")], segments={"on-phones": phones})
    model_slot_trained()
    visitor = str(uuid.uuid4())
    ruled = decide(client, visitor, "ruled-hero", {"device": "mobile"})
    modelled = decide(client, visitor, "explained-hero", {"device": "mobile", "hour": 9})

    response = client.get("/api/v1/visitors/me/", HTTP_X_TAILOR_VISITOR=visitor)
    assert response.status_code == 200
    exported = {d["id"]: d for d in response.json()["decisions"]}

    assert set(exported) == {ruled["decision_id"], modelled["decision_id"]}
    rule = exported[ruled["decision_id"]]["explanation"]
    assert rule["segment"] == "on-phones"
    assert "“On Phones”" in rule["summary"]
    model = exported[modelled["decision_id"]]["explanation"]
    assert model["policy"] == "model"
    assert model["features"]
    # Recomputed from the log, the export says what the API said when the decision was made.
    assert rule == ruled["explanation"]
    assert model == modelled["explanation"]


def test_an_explainer_that_fails_leaves_the_export_whole(client, monkeypatch, caplog):
    slot_create("plain-hero")
    visitor = str(uuid.uuid4())
    decide(client, visitor, "plain-hero", {})

    def broken(rows):
        raise RuntimeError("boom")

    monkeypatch.setattr(export_hooks, "_explainers", [broken])
    exported = visitor_export(visitor)
    assert len(exported["decisions"]) == 1
    assert exported["decisions"][0]["explanation"] is None
    assert "Decision explainer" in caplog.text
