"""The Models admin screen is for editors allowed to see model versions; activating one needs the change permission."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from personalization.models import ModelVersion
from tests.factories.users import editor_client

pytestmark = pytest.mark.django_db

INDEX_URL = "/admin/tailor/models/"


@pytest.fixture
def versions(db):
    active = ModelVersion.objects.create(slot_key="home-hero", status=ModelVersion.Status.ACTIVE, model_text="")
    candidate = ModelVersion.objects.create(slot_key="home-hero", model_text="")
    return active, candidate


def activate(client: Client, version: ModelVersion, **extra):
    return client.post(reverse("tailor_model_version_activate", args=[version.pk]), **extra)


def refused(response) -> bool:
    """Wagtail's refusal for a browser: back to the dashboard with a message (scripts get a 403, tested below)."""
    return response.status_code == 302 and response.url == reverse("wagtailadmin_home")


def test_editor_without_view_permission_sees_no_models(django_user_model, versions):
    client = editor_client(django_user_model, "plain")
    assert INDEX_URL not in client.get("/admin/").content.decode()
    assert refused(client.get(INDEX_URL))
    assert client.get(INDEX_URL, headers={"x-requested-with": "XMLHttpRequest"}).status_code == 403


def test_editor_without_permissions_cannot_activate(django_user_model, versions):
    _, candidate = versions
    client = editor_client(django_user_model, "plain")
    assert refused(activate(client, candidate))
    assert activate(client, candidate, headers={"x-requested-with": "XMLHttpRequest"}).status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE


def test_viewer_sees_models_but_cannot_activate(django_user_model, versions):
    active, candidate = versions
    client = editor_client(django_user_model, "viewer", "view_modelversion")
    assert INDEX_URL in client.get("/admin/").content.decode()
    page = client.get(INDEX_URL)
    assert page.status_code == 200
    assert "home-hero" in page.content.decode()
    assert reverse("tailor_model_version_activate", args=[candidate.pk]) not in page.content.decode()
    assert refused(activate(client, candidate))
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE


def test_change_permission_activates(django_user_model, versions):
    active, candidate = versions
    client = editor_client(django_user_model, "operator", "view_modelversion", "change_modelversion")
    page = client.get(INDEX_URL)
    assert reverse("tailor_model_version_activate", args=[candidate.pk]) in page.content.decode()
    response = activate(client, candidate)
    assert response.status_code == 302
    assert response.url == reverse("tailor_model_versions")
    candidate.refresh_from_db()
    active.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE
    assert active.status == ModelVersion.Status.RETIRED
