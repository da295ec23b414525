"""What editors are told about the guardrails: the audit log's words and the notices built from them.

One sentence per guardrail entry, written from the evidence it keeps, serves the history
screen (``GuardrailLogFormatter``), the notice on the slot's edit screen and the one on its
Results dashboard. The notices are Wagtail components rendering Wagtail's help block; every
figure and name goes through the template's auto-escaping, so a variant named ``<script>``
reads as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from wagtail.admin.ui.components import Component
from wagtail.log_actions import LogFormatter
from wagtail.models import ModelLogEntry

from .checks import ACTIONS, PAUSE, RENDER_ERRORS, REPORT, ROLLBACK

NOTICE_DAYS = 14  # guardrail entries younger than this are shown on the slot and its dashboard
NOTICES_SHOWN = 3

LABELS = {
    PAUSE: "Guardrail: pause a harmful variant",
    ROLLBACK: "Guardrail: roll back the revision that began a harm",
    REPORT: "Guardrail: report a harmful variant (dry run)",
}


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) else "—"


def _figure(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, int | float):
        return "—"
    return _percent(value) if data.get("kind", "rate") == "rate" and abs(value) <= 1 else f"{value:,.2f}"


def evidence_words(data: Mapping[str, Any]) -> str:
    """The finding, e.g. "Click rate of “B” (b) is worse than control “A” (a): 2.00 % against 4.10 % (−51.2 %) …"."""
    variant = f"“{data.get('variant_name', data.get('variant', '?'))}” ({data.get('variant', '?')})"
    control = f"“{data.get('control_name', data.get('control', '?'))}”"
    window = data.get("window") or {}
    visitors = "renders" if data.get("metric") == RENDER_ERRORS else "visitors"
    relative = data.get("relative")
    change = f" ({relative:+.1%})" if isinstance(relative, int | float) else ""
    control_rate = data.get("control_rate")
    against = (
        f"{_figure(data, 'variant_rate')} against {_figure(data, 'control_rate')} for control {control}{change}"
        if control_rate is not None
        else f"{_figure(data, 'variant_rate')}, where control {control} has no renders to compare"
    )
    where = f" in experiment {data['group'].removeprefix('experiment:')}" if data.get("group") else ""
    return (
        f"{data.get('metric_name', data.get('metric', '?'))} of {variant} is worse: {against},"
        f" over {data.get('variant_visitors', 0):,} and {data.get('control_visitors', 0):,} {visitors}{where}"
        f" from {window.get('start', '?')} to {window.get('end', '?')}"
        f" (always-valid test, α {data.get('alpha', 0):.3g} of the slot's {data.get('slot_alpha', 0):.3g})."
    )


def entry_words(action: str, data: Mapping[str, Any]) -> str:
    """The audit entry as a sentence: what the guardrail did, why, and how to undo it."""
    evidence = evidence_words(data)
    if data.get("draft_set_aside"):
        evidence += f" An unpublished draft (revision {data['draft_set_aside']}) was set aside: it is in the history."
    if action == PAUSE:
        return f"Paused by the guardrail. {evidence} To undo, un-pause the variant and publish."
    if action == ROLLBACK:
        return (
            f"Rolled back by the guardrail to revision {data.get('rolled_back_to')}, as the harm began with"
            f" revision {data.get('rolled_back_from')}. {evidence} To undo, revert to that revision in the history."
        )
    return f"Dry run: the guardrail would have acted, but only reports on this slot. {evidence}"


class GuardrailLogFormatter(LogFormatter):
    def format_message(self, log_entry: Any) -> str:
        return entry_words(log_entry.action, log_entry.data or {})


@dataclass(frozen=True)
class GuardrailNotice(Component):
    """One guardrail entry as a Wagtail help block: critical when it acted, a warning for a dry run."""

    action: str
    text: str
    at: datetime

    template_name = "personalization/admin/guardrail_notice.html"

    @property
    def status(self) -> str:
        return "warning" if self.action == REPORT else "critical"

    @property
    def tag(self) -> str:
        return {PAUSE: "paused by guardrail", ROLLBACK: "rolled back by guardrail"}.get(self.action, "dry run")

    @property
    def heading(self) -> str:
        return LABELS.get(self.action, self.action)

    def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
        return {"notice": self}


def slot_guardrail_notices(slot: Any, *, now: datetime | None = None) -> list[GuardrailNotice]:
    """The slot's recent guardrail entries, newest first, as notices."""
    if slot is None or slot.pk is None:
        return []
    since = (now or timezone.now()) - timedelta(days=NOTICE_DAYS)
    entries = (
        ModelLogEntry.objects.for_instance(slot)
        .filter(action__in=ACTIONS, timestamp__gte=since)
        .order_by("-timestamp", "-pk")[:NOTICES_SHOWN]
    )
    return [
        GuardrailNotice(entry.action, entry_words(entry.action, entry.data or {}), entry.timestamp) for entry in entries
    ]
