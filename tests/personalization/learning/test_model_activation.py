"""Activating a model is one action: permission, the switch, the audit entry and the catalog, for every caller."""

from __future__ import annotations

import random
import uuid

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.urls import reverse
from wagtail.models import ModelLogEntry

from demo.simulation import SLOT_KEY, simulation_slot_ensure, traffic_run
from personalization.conf import setting
from personalization.engine import Context
from personalization.engine.featurize import row_features, variant_features
from personalization.engine.reward_model import reward_model_train
from personalization.learning.activation import ActivateModelVersionAction, ModelActivationPermissionError
from personalization.learning.training import model_train
from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_get
from personalization.serving.decide import decide
from tests.factories.users import editor_client
from tracking.visitors import VisitorState

pytestmark = pytest.mark.django_db

ACTION = "tailor.model.activate"
ACTIVE, CANDIDATE, RETIRED = ModelVersion.Status.ACTIVE, ModelVersion.Status.CANDIDATE, ModelVersion.Status.RETIRED


@pytest.fixture
def versions(db):
    """The demo hero on the model strategy with a serving model and a newer candidate, both real LightGBM models."""
    simulation_slot_ensure()
    definition = catalog_get().slots[SLOT_KEY].definition
    variants = [variant_features(v.key, v.template, v.params) for v in definition.variants]
    rng = random.Random(3)
    rows, labels = [], []
    for _ in range(200):
        context = Context.from_mapping({"device": rng.choice(["mobile", "desktop"])})
        rows.append(row_features(context, rng.choice(variants)))
        labels.append(float(rng.random() < 0.3))
    model, _ = reward_model_train(rows, labels, seed=3, num_boost_round=5)
    serving = ModelVersion.objects.create(slot_key=SLOT_KEY, model_text=model.to_text())
    ActivateModelVersionAction(serving, source="command").execute()
    candidate = ModelVersion.objects.create(slot_key=SLOT_KEY, model_text=model.to_text())
    return serving, candidate


def statuses(*versions: ModelVersion) -> list[str]:
    return [ModelVersion.objects.get(pk=v.pk).status for v in versions]


def entries(version: ModelVersion):
    return ModelLogEntry.objects.filter(action=ACTION, object_id=str(version.pk))


def served_version() -> str:
    """The model version a decision is made and logged with."""
    decision = decide(SLOT_KEY, VisitorState(id=str(uuid.uuid4())), {})
    # Without a model the slot logs its policy's own version, which could pass for a version number.
    assert catalog_get().slots[SLOT_KEY].policy.model_version == decision.policy_version
    return decision.policy_version


def shared_catalog_version() -> str | None:
    """What every other process compares its catalog against."""
    return caches[setting("CATALOG_CACHE")].get(setting("CATALOG_VERSION_KEY"))


@pytest.mark.simulation
def test_automatic_promotion_writes_an_audit_entry_with_the_evaluation(settings):
    # A small log, so a generous margin: this is about what promotion records, not when it happens.
    settings.TAILOR = {**settings.TAILOR, "PROMOTION_MARGIN": 0.5}
    simulation_slot_ensure()
    traffic_run(400, random.Random(41))
    report = model_train(SLOT_KEY, seed=41)
    assert report.promoted, report.note
    entry = ModelLogEntry.objects.get(action=ACTION, object_id=str(report.version_id))
    assert entry.user is None  # a system action: nobody pressed a button
    assert entry.data["source"] == "promotion"
    assert entry.data["reason"] == report.note
    candidate = report.estimates["candidate"]["dr"]["value"]
    assert entry.data["evaluation"]["candidate_dr"] == pytest.approx(candidate)
    assert entry.message.startswith("Activated automatically after training")
    assert f"{candidate:.4f}" in entry.message


def test_the_admin_button_refuses_a_user_without_the_permission_and_changes_nothing(django_user_model, versions):
    serving, candidate = versions
    client = editor_client(django_user_model, "viewer", "view_modelversion")
    url = reverse("tailor_model_version_activate", args=[candidate.pk])
    assert client.post(url, headers={"x-requested-with": "XMLHttpRequest"}).status_code == 403
    assert statuses(serving, candidate) == [ACTIVE, CANDIDATE]
    assert not entries(candidate).exists()
    # The action itself refuses the same user, whoever calls it.
    viewer = django_user_model.objects.get(username="viewer")
    with pytest.raises(ModelActivationPermissionError):
        ActivateModelVersionAction(candidate, user=viewer).execute()
    assert statuses(serving, candidate) == [ACTIVE, CANDIDATE]


def test_the_action_logs_the_user_who_activated_and_what_it_replaced(django_user_model, versions):
    serving, candidate = versions
    editor_client(django_user_model, "operator", "view_modelversion", "change_modelversion")
    operator = django_user_model.objects.get(username="operator")
    ActivateModelVersionAction(candidate, user=operator, reason="new pricing page").execute()
    assert statuses(serving, candidate) == [RETIRED, ACTIVE]
    entry = entries(candidate).get()
    assert entry.user == operator
    assert entry.data["source"] == "admin"
    assert entry.data["previous_version"] == serving.pk
    assert entry.data["rollback"] is False
    assert entry.message == f"Activated on the Models screen, replacing model #{serving.pk}: new pricing page"


def test_activation_and_its_audit_entry_are_atomic(django_capture_on_commit_callbacks, versions):
    """If the audit entry cannot be written, the version does not serve and no process is told to rebuild."""
    serving, candidate = versions
    table = ModelLogEntry._meta.db_table
    with connection.cursor() as cursor:  # a real failing write, undone with the test's transaction
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log down'; END $$"
                " LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER audit_down BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION audit_down()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER audit_down BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'audit log down'); END"
            )
    before = shared_catalog_version()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(DatabaseError, match="audit log down"):
        ActivateModelVersionAction(candidate, source="command").execute()
    assert statuses(serving, candidate) == [ACTIVE, CANDIDATE]
    assert callbacks == []
    assert shared_catalog_version() == before
    assert served_version() == str(serving.pk)


def test_after_activation_every_process_serves_the_new_version(django_capture_on_commit_callbacks, versions):
    serving, candidate = versions
    assert served_version() == str(serving.pk)
    before = shared_catalog_version()
    with django_capture_on_commit_callbacks() as callbacks:
        ActivateModelVersionAction(candidate, source="command").execute()
        assert served_version() == str(candidate.pk)  # this process, at once
        assert shared_catalog_version() == before  # the others only once it is committed
    for callback in callbacks:
        callback()
    assert shared_catalog_version() != before


def test_the_site_history_shows_a_rollback_with_a_readable_label(admin_client, admin_user, versions):
    serving, candidate = versions
    ActivateModelVersionAction(candidate, user=admin_user).execute()
    ActivateModelVersionAction(serving, user=admin_user, reason="conversion dropped").execute()
    page = admin_client.get(reverse("wagtailadmin_reports:site_history"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{SLOT_KEY} model #{serving.pk}" in html
    assert f"Rolled back from model #{candidate.pk} on the Models screen: conversion dropped" in html
    assert f"Activated on the Models screen, replacing model #{serving.pk}" in html
    assert "Activate model version" in html  # the action filter's label


def test_the_command_activates_through_the_action(versions):
    serving, candidate = versions
    call_command("activate_model", str(candidate.pk), "--reason", "incident 42")
    assert statuses(serving, candidate) == [RETIRED, ACTIVE]
    entry = entries(candidate).get()
    assert (entry.user, entry.data["source"], entry.data["reason"]) == (None, "command", "incident 42")
    with pytest.raises(CommandError, match="No model version #999999"):
        call_command("activate_model", "999999")
