"""The decision explorer: an editor pastes a visitor id or a decision id and sees what was shown, when, and why.

Thin view: the id goes through ``DecisionSearchForm`` (anything that is not an id is a form error, never a
500), ``serving.explain.decisions_lookup`` finds and explains the decisions, and the template renders them
with Wagtail's own header, listing table and status tags; every value is escaped by the template. Like the
results, this needs permission to view (or change) slots: it shows what visitors were shown and why.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from content.models import Slot, Variant
from personalization.admin.results import can_view_results
from personalization.engine.statistics.results import percent_words
from personalization.serving.explain import DecisionLookup, decisions_lookup

LIMIT = 50


def can_explore_decisions(user: Any) -> bool:
    return can_view_results(user)


class DecisionSearchForm(forms.Form):
    q = forms.CharField(
        label="Visitor or decision id",
        max_length=100,
        help_text="A decision id (data-tailor-decision on the page, or the decisions API's decision_id) or a "
        "visitor id (the tailor_vid cookie, or the visitor's export).",
        widget=forms.TextInput(attrs={"placeholder": "e.g. 3f2b9c0e4d1a4b6c8e7f0a1b2c3d4e5f", "autocomplete": "off"}),
    )

    # The paging link's: list the visitor's decisions older than this one of theirs.
    before = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def clean_q(self) -> uuid.UUID:
        value = self.cleaned_data["q"].strip()
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError(
                "Not an id: paste a visitor id or a decision id (32 hexadecimal digits, dashes allowed)."
            ) from None

    def clean_before(self) -> uuid.UUID | None:
        value = self.cleaned_data["before"].strip()
        if not value:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError("Not a decision id: follow the “Older decisions” link again.") from None


def decision_explorer_view(request: HttpRequest) -> HttpResponse:
    if not can_explore_decisions(request.user):
        raise PermissionDenied  # Wagtail answers 403 to scripts, redirects a browser to the dashboard
    form = DecisionSearchForm(request.GET if "q" in request.GET else None)
    lookup = DecisionLookup(kind="")
    if form.is_bound and form.is_valid():
        lookup = decisions_lookup(form.cleaned_data["q"], limit=LIMIT, before=form.cleaned_data["before"])
        if not lookup.kind:
            form.add_error("q", "No decision and no visitor has this id (decisions are kept for the retention period).")
    slots = Slot.objects.in_bulk({d.slot_key for d in lookup.decisions}, field_name="key")
    names = {
        (slot_key, key): name
        for slot_key, key, name in Variant.objects.filter(slot__key__in=list(slots)).values_list(
            "slot__key", "key", "name"
        )
    }
    rows = [
        {
            "decision": d,
            "why": d.explanation,
            "slot": slots.get(d.slot_key),
            "variant_name": names.get((d.slot_key, d.variant_key), ""),
            "share": percent_words(d.explanation["share"], signed=False),
        }
        for d in lookup.decisions
    ]
    return TemplateResponse(
        request,
        "personalization/admin/decision_explorer.html",
        {
            "page_title": "Decisions",
            "header_title": "Why did they see this?",
            "header_icon": "help",
            "form": form,
            "lookup": lookup,
            "rows": rows,
            "limit": LIMIT,
            "searched": form.is_bound and form.is_valid(),
            # Keyset paging: the next page starts after the last decision listed.
            "older_url": f"?{urlencode({'q': rows[0]['decision'].visitor_id, 'before': rows[-1]['decision'].id})}"
            if lookup.more
            else "",
            "latest_url": f"?{urlencode({'q': rows[0]['decision'].visitor_id})}" if lookup.older_than else "",
        },
    )
