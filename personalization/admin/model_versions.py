"""Admin screens for the model registry: every version per slot, and activation (rollback) after a confirmation.

Every offline lift on the screen has one baseline, stated once: uniform random (every live
variant equally often), estimated with the doubly robust estimator, cross-fitted, on the version's
decisions. Each version's row puts its own lift beside the lift of the policy that served when it
was trained, over the same uniform random on the same decisions. The active version's live uplift
is a measurement, not an estimate, against the slot's holdout (visitors kept on the default
variant), and says so. The header of each slot says what actually serves it: a model only when
the slot is on the model strategy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from content.models import Slot
from personalization.learning.activation import ActivateModelVersionAction
from personalization.models import ModelVersion
from personalization.results.dashboard import model_live_uplift
from personalization.results.wording import lift_ratio, lift_words

BASELINE = "uniform random"


def _dr_value(version: ModelVersion, policy: str) -> float | None:
    try:
        return float(version.estimates[policy]["dr"]["value"])
    except (KeyError, TypeError, ValueError):
        return None  # trained before this policy was estimated beside it, or estimates missing


def lift_over_uniform(version: ModelVersion, policy: str = "candidate") -> float | None:
    """A policy's doubly robust value over uniform random's, on the same decisions.

    A doubly robust estimate can be negative on a small hold-out; a ratio to it means nothing (None).
    """
    return lift_ratio(_dr_value(version, policy), _dr_value(version, "uniform"))


def can_view_models(user) -> bool:
    # As in Django's admin, the change permission includes seeing what is changed.
    return user.has_perm("personalization.view_modelversion") or user.has_perm("personalization.change_modelversion")


@dataclass(frozen=True)
class Serving:
    """What serves the slot, in words: a model only when the slot's published strategy is the model."""

    by_model: bool
    text: str


def serving_words(slot: Slot | None, active: ModelVersion | None) -> Serving:
    if slot is None:
        return Serving(False, "No slot has this key any more: nothing serves these models.")
    if slot.strategy != "model":
        strategy = slot.get_strategy_display().split(":")[0]
        kept = f" Model #{active.pk} stays active and serves again if the slot goes back to it." if active else ""
        return Serving(False, f"No model serves this slot: it is on the {strategy} strategy, not Model.{kept}")
    if active is None:
        return Serving(False, "No model serves this slot yet: it explores uniformly. Activate a version below.")
    trained = f", trained on {active.metrics.get('rows')} decisions" if (active.metrics or {}).get("rows") else ""
    return Serving(True, f"Model #{active.pk} serves this slot{trained}.")


def model_versions_index(request: HttpRequest) -> HttpResponse:
    if not can_view_models(request.user):
        raise PermissionDenied  # Wagtail answers 403 to scripts, redirects a browser to the dashboard
    by_slot: dict[str, list[ModelVersion]] = defaultdict(list)
    for version in ModelVersion.objects.defer("model_text"):
        version.lift_text = lift_words(lift_over_uniform(version))
        version.serving_lift_text = lift_words(lift_over_uniform(version, "serving"))
        by_slot[version.slot_key].append(version)
    slots = Slot.objects.in_bulk(list(by_slot), field_name="key")
    rows = []
    for key, versions in sorted(by_slot.items()):
        active = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
        slot = slots.get(key)
        serving = serving_words(slot, active)
        live = model_live_uplift(slot, active) if active is not None and serving.by_model else None
        rows.append((key, active, versions, live, serving))
    return TemplateResponse(
        request,
        "personalization/admin/model_versions.html",
        {
            "page_title": "Models",
            "header_title": "Models",
            "header_icon": "cogs",
            "slots": rows,
            "baseline": BASELINE,
            "can_activate": request.user.has_perm("personalization.change_modelversion"),
        },
    )


def model_version_activate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: ask for confirmation (what serves now, what will serve instead); POST: activate."""
    version = get_object_or_404(ModelVersion.objects.defer("model_text"), pk=pk)
    if request.method == "POST":
        # The action checks the permission (PermissionDenied: Wagtail refuses as for any admin view) and audits.
        ActivateModelVersionAction(version, user=request.user, source="admin").execute()
        serving = serving_words(Slot.objects.filter(key=version.slot_key).first(), version)
        messages.success(
            request,
            f"Model #{version.pk} now serves slot “{version.slot_key}”."
            if serving.by_model
            else f"Model #{version.pk} is now the active version for “{version.slot_key}”. {serving.text}",
        )
        return redirect("tailor_model_versions")
    if not request.user.has_perm("personalization.change_modelversion"):
        raise PermissionDenied
    active = (
        ModelVersion.objects.defer("model_text")
        .filter(slot_key=version.slot_key, status=ModelVersion.Status.ACTIVE)
        .exclude(pk=version.pk)
        .first()
    )
    slot = Slot.objects.filter(key=version.slot_key).first()
    version.lift_text = lift_words(lift_over_uniform(version))
    return TemplateResponse(
        request,
        "personalization/admin/model_version_activate.html",
        {
            "page_title": f"Activate model #{version.pk}",
            "header_title": f"Activate model #{version.pk} for “{version.slot_key}”?",
            "header_icon": "cogs",
            "version": version,
            "active": active,
            "serving": serving_words(slot, active),
            "baseline": BASELINE,
        },
    )
