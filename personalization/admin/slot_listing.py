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
from urllib.parse import urlencode

from django.db.models import Sum
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from wagtail.admin.ui.tables import Column

from content.models import Slot
from personalization.admin.results import can_view_results
from personalization.models import Experiment, VariantDay
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


@dataclass(frozen=True, slots=True)
class ExperimentStatus:
    text: str  # "running until 12 Dec 2026", "scheduled from ...", "ended", "stopped", "draft"
    url: str  # the slot's results for this experiment


# Which experiment a slot's row speaks for: the one running, else the next scheduled, else the latest past one.
STATUS_RANK = {"running": 0, "scheduled": 1, "ended": 2, "stopped": 2, "draft": 3}


def experiment_statuses(slots: Sequence[Slot]) -> dict[str, ExperimentStatus]:
    """Each slot's most relevant experiment and its status, in one query for the whole page of slots."""
    if not slots:
        return {}
    by_pk = {slot.pk: slot for slot in slots}
    experiments = Experiment.objects.filter(slot_id__in=list(by_pk)).only(
        "key", "slot_id", "live", "first_published_at", "starts_at", "ends_at", "max_days"
    )
    chosen: dict[int, tuple[tuple, Experiment]] = {}
    for experiment in experiments:
        status = experiment.status
        # Among equals: running, the first to stop; scheduled, the first to start; past ones, the last to stop.
        when = experiment.stops_at if status == "running" else experiment.starts_at
        order = when.timestamp() if status in ("running", "scheduled") else -experiment.stops_at.timestamp()
        rank = (STATUS_RANK.get(status, 9), order)
        if experiment.slot_id not in chosen or rank < chosen[experiment.slot_id][0]:
            chosen[experiment.slot_id] = (rank, experiment)
    statuses = {}
    for slot_pk, (_, experiment) in chosen.items():
        key = by_pk[slot_pk].key
        url = reverse("tailor_results:slot", args=[key]) + "?" + urlencode({"experiment": experiment.key})
        statuses[key] = ExperimentStatus(experiment_status_words(experiment), url)
    return statuses


def experiment_status_words(experiment: Experiment) -> str:
    status = experiment.status
    if status == "running":
        return f"running until {date_format(localtime(experiment.stops_at), 'DATE_FORMAT')}"
    if status == "scheduled":
        return f"scheduled from {date_format(localtime(experiment.starts_at), 'DATE_FORMAT')}"
    return status


class ExperimentColumn(Column):
    cell_template_name = "personalization/admin/experiment_status_cell.html"

    def __init__(self, *args, statuses: dict[str, ExperimentStatus], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statuses = statuses

    def get_cell_context_data(self, instance, parent_context):
        context = super().get_cell_context_data(instance, parent_context)
        context["status"] = self.statuses.get(instance.key)
        context["empty"] = NO_FIGURE
        return context


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
        ExperimentColumn("experiment", label="Experiment", accessor="key", statuses=statuses),
        ResultsLinkColumn("results", label="Results", accessor="key"),
    ]
