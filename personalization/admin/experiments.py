"""The Experiments snippet screens: Wagtail's own listing, editor, drafts, revisions and publishing.

An experiment is edited like a slot: saved as a draft, published when ready (it then runs
from its start to its stop), unpublished to stop it early. The form checks it
(``personalization.forms.ExperimentForm``); the listing says each one's status. A
multivariate experiment's edit screen has a "Generate combinations" button: a page that
shows the combinations its factors make and adds them to the slot on an explicit POST.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from wagtail.admin import messages
from wagtail.admin.ui.tables import Column
from wagtail.admin.widgets.button import HeaderButton
from wagtail.snippets.views.snippets import EditView, SnippetViewSet

from personalization.engine.statistics.factorial import combinations_from_factors
from personalization.models import Experiment
from personalization.multivariate import (
    CombinationsError,
    design_from_json,
    experiment_combinations_generate,
    factors_check,
)

GENERATE_PERMISSIONS = ("personalization.change_experiment", "content.publish_slot")


def can_generate_combinations(user) -> bool:
    """Generating publishes a slot revision: the user must be able to change experiments and publish slots."""
    return all(user.has_perm(permission) for permission in GENERATE_PERMISSIONS)


def combinations_url(experiment: Experiment) -> str:
    return reverse(Experiment.snippet_viewset.get_url_name("combinations"), args=[experiment.pk])


class ExperimentEditView(EditView):
    @cached_property
    def header_buttons(self):
        buttons = list(super().header_buttons)
        if design_from_json(self.object.factors) and can_generate_combinations(self.request.user):
            buttons.append(HeaderButton("Generate combinations", url=combinations_url(self.object), icon_name="plus"))
        return buttons


def _preview(experiment: Experiment) -> dict:
    """What generating would do: each combination, whether the slot has it already, and what stops it."""
    draft = experiment.get_latest_revision_as_object()
    design = design_from_json(draft.factors)
    if design is None:
        return {"problem": "This experiment declares no factors: add them (and a base variant) and save first."}
    slot = draft.slot
    base = next((v for v in slot.variants.all() if v.key == design.base), None)
    if base is None:
        return {"problem": f"The slot “{slot.key}” has no published variant “{design.base}” to start from."}
    factors, problems = factors_check(base, design.factors)
    if problems:
        return {"problem": " ".join(problems)}
    existing = {v.key for v in slot.variants.all()}
    combinations = combinations_from_factors({f.name: list(f.levels) for f in factors})
    rows = [
        {"key": c.key, "levels": list(c.levels.items()), "exists": c.key in existing, "baseline": i == 0}
        for i, c in enumerate(combinations)
    ]
    return {"slot": slot, "base": base, "factors": factors, "rows": rows, "new": sum(not r["exists"] for r in rows)}


def experiment_combinations_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the combinations and a button; POST (CSRF-checked by Django's middleware): generate them."""
    if not can_generate_combinations(request.user):
        raise PermissionDenied
    experiment = get_object_or_404(Experiment, pk=pk)
    edit_url = reverse(Experiment.snippet_viewset.get_url_name("edit"), args=[experiment.pk])
    if request.method == "POST":
        try:
            outcome = experiment_combinations_generate(experiment.pk, user=request.user)
        except CombinationsError as exc:
            messages.error(request, str(exc))
            return redirect(combinations_url(experiment))
        added = len(outcome.added)
        words = (
            f"{added} combination variant{'s' if added != 1 else ''} added to the slot (published)"
            if added
            else "The slot already has every combination"
        )
        tail = (
            "; the experiment's variants are now its combinations, the baseline first (saved as a draft: publish it"
            " to start them)."
            if outcome.experiment_changed
            else "; the experiment already serves them."
        )
        messages.success(request, words + tail)
        return redirect(edit_url)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return TemplateResponse(
        request,
        "personalization/admin/experiment_combinations.html",
        {
            "page_title": f"Combinations of {experiment.name}",
            "header_title": f"Generate combinations: {experiment.name}",
            "header_icon": "tasks",
            "experiment": experiment,
            "edit_url": edit_url,
            **_preview(experiment),
        },
    )


class ExperimentViewSet(SnippetViewSet):
    model = Experiment
    edit_view_class = ExperimentEditView
    icon = "tasks"
    menu_label = "Experiments"
    menu_name = "tailor-experiments"
    menu_order = 204
    add_to_admin_menu = True
    list_display = [
        "name",
        "key",
        "slot",
        Column("status", label="Status", accessor="status"),
        Column("starts_at", label="Start", accessor="starts_at"),
        Column("stops_at", label="Stop", accessor="stops_at"),
    ]
    search_fields = ["name", "key"]

    def get_urlpatterns(self):
        return [
            *super().get_urlpatterns(),
            path("combinations/<int:pk>/", experiment_combinations_view, name="combinations"),
        ]
