"""Admin screens for the model registry: every version per slot, and one-click activation (rollback).

For a model slot the active version's offline estimate (over uniform random, on held-out
decisions) sits beside its measured live uplift over the slot's holdout since it was activated.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from content.models import Slot
from personalization.learning.activation import ActivateModelVersionAction
from personalization.models import ModelVersion
from personalization.results.dashboard import model_live_uplift, offline_lift_words


def lift_over_uniform(version: ModelVersion) -> float | None:
    """The candidate's doubly robust value over uniform random's, on the same held-out decisions."""
    try:
        candidate = version.estimates["candidate"]["dr"]["value"]
        uniform = version.estimates["uniform"]["dr"]["value"]
    except (KeyError, TypeError):
        return None  # trained before uniform was estimated, or estimates missing
    # A doubly robust estimate can be negative on a small hold-out; a ratio to it means nothing.
    return candidate / uniform if uniform > 0 else None


def can_view_models(user) -> bool:
    # As in Django's admin, the change permission includes seeing what is changed.
    return user.has_perm("personalization.view_modelversion") or user.has_perm("personalization.change_modelversion")


def model_versions_index(request: HttpRequest) -> HttpResponse:
    if not can_view_models(request.user):
        raise PermissionDenied  # Wagtail answers 403 to scripts, redirects a browser to the dashboard
    by_slot: dict[str, list[ModelVersion]] = defaultdict(list)
    for version in ModelVersion.objects.defer("model_text"):
        lift = lift_over_uniform(version)
        version.lift_percent = None if lift is None else (lift - 1.0) * 100.0
        version.lift_text = offline_lift_words(lift)
        by_slot[version.slot_key].append(version)
    slots = Slot.objects.in_bulk(list(by_slot), field_name="key")
    live = {}
    for key, versions in by_slot.items():
        active = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
        slot = slots.get(key)
        if active is not None and (slot is None or slot.strategy == "model"):
            live[key] = model_live_uplift(slot, active)
    return TemplateResponse(
        request,
        "personalization/admin/model_versions.html",
        {
            "page_title": "Models",
            "header_title": "Models",
            "header_icon": "cogs",
            "slots": [
                (
                    key,
                    next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None),
                    versions,
                    live.get(key),
                )
                for key, versions in sorted(by_slot.items())
            ],
            "can_activate": request.user.has_perm("personalization.change_modelversion"),
        },
    )


@require_POST
def model_version_activate(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.defer("model_text"), pk=pk)
    # The action checks the permission (PermissionDenied: Wagtail refuses as for any admin view) and audits.
    ActivateModelVersionAction(version, user=request.user, source="admin").execute()
    messages.success(request, f"Model #{version.pk} now serves slot “{version.slot_key}”.")
    return redirect("tailor_model_versions")
