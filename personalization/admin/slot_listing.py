"""The Slots listing's results columns: visitors over the last 7 days, the leading variant, experiment status, a link.

``content`` lists slots and must not import ``personalization``, so it calls the
``tailor_slot_listing_columns`` hook with the page of slots it is about to show; this module
answers with Wagtail table columns whose figures come from one rollup query for the whole page.
The leading variant is the one with the highest observed rate on the slot's own metric over
the week: what is ahead so far, not a verdict (the slot's results screen says whether it is sure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.db.models import Sum
from django.urls import reverse
from wagtail.admin.ui.tables import Column

from content.models import Slot
from personalization.admin.results import can_view_results
from personalization.models import VariantDay
from personalization.results.selectors import METRICS, metric_default, window_days

LISTING_DAYS = 7
NO_FIGURE = "—"


@dataclass(frozen=True, slots=True)
class SlotWeek:
    visitors: int
    leading: str  # the leading variant's name, or NO_FIGURE


def slot_weeks_get(slots: Sequence[Slot], *, today: date | None = None) -> dict[str, SlotWeek]:
    """Each slot's last 7 days from the rollup, in one query for all of them."""
    if not slots:
        return {}
    start, end = window_days(LISTING_DAYS, today=today)
    fields = {name: Sum(name) for name in ("visitors", "visitors_clicked", "visitors_converted")}
    rows = (
        VariantDay.objects.filter(slot_key__in=[slot.key for slot in slots], day__gte=start, day__lte=end)
        .values("slot_key", "variant_key")
        .annotate(**fields)
        .order_by()
    )
    per_slot: dict[str, list[dict]] = {}
    for row in rows:
        per_slot.setdefault(row["slot_key"], []).append(row)
    weeks = {}
    for slot in slots:
        found = per_slot.get(slot.key, [])
        converted = METRICS[metric_default(slot)].total
        rates = [(row[converted] / row["visitors"], row["variant_key"]) for row in found if row["visitors"]]
        # Variants come prefetched with the listing's slots, so naming the leader costs no query.
        names = {variant.key: variant.name for variant in slot.variants.all()}
        leader = max(rates)[1] if rates and max(rates)[0] > 0 else None
        weeks[slot.key] = SlotWeek(
            visitors=sum(int(row["visitors"] or 0) for row in found),
            leading=names.get(leader, leader) if leader else NO_FIGURE,
        )
    return weeks


def experiment_statuses(slots: Sequence[Slot]) -> dict[str, str]:
    """Each slot's experiment status; none is known yet, so every slot shows NO_FIGURE."""
    return {}


class ResultsLinkColumn(Column):
    cell_template_name = "personalization/admin/results_link_cell.html"

    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        context["url"] = reverse("tailor_results:slot", args=[instance.key])
        return context


def slot_listing_columns(slots: Sequence[Slot], request) -> list[Column]:
    if not can_view_results(request.user):
        return []
    weeks = slot_weeks_get(slots)
    statuses = experiment_statuses(slots)
    empty = SlotWeek(0, NO_FIGURE)
    return [
        Column(
            "visitors_7d",
            label="Visitors (7 days)",
            accessor=lambda slot: f"{weeks.get(slot.key, empty).visitors:,}",
        ),
        Column("leading_variant", label="Leading", accessor=lambda slot: weeks.get(slot.key, empty).leading),
        Column("experiment", label="Experiment", accessor=lambda slot: statuses.get(slot.key, NO_FIGURE)),
        ResultsLinkColumn("results", label="Results", accessor="key"),
    ]
