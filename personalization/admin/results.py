"""Admin screens for a slot's results: the dashboard (table, charts, verdict) and its CSV export.

Thin views: the query string goes through ``ResultsQueryForm`` (a bad value is said in a
message and the default used, never a 500), ``results.dashboard.slot_dashboard`` reads the
rollup, and the template renders it with Wagtail's own header, panels, tables and status tags.
Results are never public: Wagtail's admin URLs already need admin access, and these views also
need permission to view (or change) slots, as the results API does.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from wagtail.admin.widgets.button import HeaderButton

from content.models import Slot
from personalization.admin.charts import allocation_chart, rate_chart
from personalization.guardrails.notices import slot_guardrail_notices
from personalization.models import Experiment
from personalization.results.dashboard import SlotDashboard, slot_dashboard, slot_experiments
from personalization.results.selectors import (
    DEFAULT_DAYS,
    MAX_DAYS,
    SlotNotFoundError,
    metric_default,
    metric_get,
    metric_names,
    metric_title,
)

WINDOWS = (7, 14, 30, 90, 180, 365)
CSV_FIELDS = (
    "day",
    "variant",
    "variant_name",
    "decisions",
    "impressions",
    "clicks",
    "conversions",
    "visitors_seen",
    "visitors",
    "visitors_clicked",
    "visitors_converted",
    "rate",
    "value_sum",
    "dwell_sum",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def can_view_results(user) -> bool:
    return user.has_perm("content.view_slot") or user.has_perm("content.change_slot")


class ResultsQueryForm(forms.Form):
    """The dashboard's pickers: which metric, over how many days."""

    experiment = forms.ChoiceField(label="Traffic", required=False)
    metric = forms.ChoiceField(label="Metric", required=False)
    days = forms.TypedChoiceField(label="Window", coerce=int, required=False, empty_value=None)

    def __init__(self, data, *, metric_default: str, experiments: Sequence[Experiment] = ()) -> None:
        super().__init__(data)
        self.fields["experiment"].choices = [
            ("", "All of the slot's traffic"),
            *((e.key, f"Experiment: {e.name} ({e.status})") for e in experiments),
        ]
        # Every published goal is a metric too: its rate and its value per visitor.
        self.fields["metric"].choices = [(key, metric_title(key, metric)) for key, metric in metric_names()]
        self.fields["metric"].initial = metric_default
        windows = list(WINDOWS)
        raw = data.get("days")
        if raw and raw.isdigit() and 1 <= int(raw) <= MAX_DAYS and int(raw) not in windows:
            windows = sorted([*windows, int(raw)])  # a window typed into the URL stays selectable
        self.fields["days"].choices = [(n, f"Last {n} days") for n in windows]
        self.fields["days"].initial = DEFAULT_DAYS

    def values(self, metric_default: str) -> tuple[str, int, list[str]]:
        """(metric, days, problems): the valid choices, defaults in place of the bad ones."""
        self.is_valid()
        problems = [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]
        metric = self.cleaned_data.get("metric") or metric_default
        days = self.cleaned_data.get("days") or DEFAULT_DAYS
        return metric, days, problems

    @property
    def experiment_key(self) -> str | None:
        """The chosen experiment, None for all traffic (or an unknown key, which ``values`` reports)."""
        return (self.cleaned_data or {}).get("experiment") or None


def _slot_or_404(key: str) -> Slot:
    slot = Slot.objects.filter(key=key).first()
    if slot is None:
        raise Http404(f"No slot has the key {key!r}.")
    return slot


def _query(request: HttpRequest, slot: Slot) -> tuple[ResultsQueryForm, str, int, list[str]]:
    experiments = slot_experiments(slot)
    chosen = next((e for e in experiments if e.key == request.GET.get("experiment")), None)
    # An experiment is read on its own primary metric unless the editor picks another (or its goal is gone).
    default = chosen.primary_metric if chosen else metric_default(slot)
    gone = []
    try:
        metric_get(default)
    except ValueError as error:
        if not request.GET.get("metric"):  # the page's own CSV link names the metric it shows
            gone.append(f"{error}: the experiment's primary metric names a goal deleted since.")
        default = metric_default(slot)
    data = request.GET.copy()
    data.setdefault("metric", default)  # so the picker shows the metric the page shows
    form = ResultsQueryForm(data, metric_default=default, experiments=experiments)
    metric, days, problems = form.values(default)
    return form, metric, days, gone + problems


def slot_results_view(request: HttpRequest, key: str) -> HttpResponse:
    if not can_view_results(request.user):
        raise PermissionDenied  # Wagtail answers 403 to scripts, redirects a browser to the dashboard
    slot = _slot_or_404(key)
    form, metric, days, problems = _query(request, slot)
    for problem in problems:
        messages.error(request, f"{problem} Showing the default instead.")
    try:
        dashboard = slot_dashboard(key, days=days, metric=metric, experiment=form.experiment_key)
    except SlotNotFoundError:
        raise Http404(f"No slot has the key {key!r}.") from None
    except ValueError as error:
        if not form.experiment_key:
            raise
        # An experiment whose results cannot be read (a draft without two variants): say so, show all traffic.
        messages.error(request, f"{error}. Showing all of the slot's traffic instead.")
        form.cleaned_data["experiment"] = ""
        dashboard = slot_dashboard(key, days=days, metric=metric)
    label = (lambda v: f"{v:.1%}") if dashboard.kind == "rate" else (lambda v: f"{v:,.2f}")
    query = {"metric": metric, "days": days}
    if form.experiment_key:
        query["experiment"] = form.experiment_key
    csv_url = reverse("tailor_results:csv", args=[key]) + "?" + urlencode(query)
    return TemplateResponse(
        request,
        "personalization/admin/results.html",
        {
            "page_title": f"Results: {slot.name}",
            "header_title": f"Results: {slot.name}",
            "header_icon": "crosshairs",
            "breadcrumbs_items": _breadcrumbs(slot),
            "header_buttons": [HeaderButton("Download CSV", url=csv_url, icon_name="download")],
            "dashboard": dashboard,
            "guardrail_notices": slot_guardrail_notices(slot),
            "form": form,
            "experiment_picker": len(form.fields["experiment"].choices) > 1,
            "csv_url": csv_url,
            "rate_chart": rate_chart(dashboard.series, dashboard.names, label=label, metric_name=dashboard.metric_name),
            "allocation_chart": allocation_chart(dashboard.series, dashboard.names),
        },
    )


def slot_results_csv(request: HttpRequest, key: str) -> HttpResponse:
    if not can_view_results(request.user):
        raise PermissionDenied
    slot = _slot_or_404(key)
    form, metric, days, problems = _query(request, slot)
    if problems:
        # A download has no page to show a message on: say what is wrong instead of exporting something else.
        return HttpResponseBadRequest(" ".join(problems), content_type="text/plain; charset=utf-8")
    try:
        dashboard = slot_dashboard(key, days=days, metric=metric, every_figure=True, experiment=form.experiment_key)
    except ValueError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    group = f"-{form.experiment_key}" if form.experiment_key else ""
    filename = f"tailor-results-{slot.key}{group}-{dashboard.start.isoformat()}-{dashboard.end.isoformat()}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow(CSV_FIELDS)
    writer.writerows(csv_safe(row) for row in results_csv_rows(dashboard))
    return response


def results_csv_rows(dashboard: SlotDashboard) -> Iterable[list[object]]:
    """One row per variant per day; ``rate`` is the chosen metric's figure of that day's cohort."""
    figure, _ = metric_get(dashboard.metric).figures
    for row in dashboard.rows:
        total = getattr(row, figure)
        yield [
            row.day.isoformat(),
            row.variant,
            dashboard.names.get(row.variant, row.variant),
            row.decisions,
            row.impressions,
            row.clicks,
            row.conversions,
            row.visitors_seen,
            row.visitors,
            row.visitors_clicked,
            row.visitors_converted,
            round(total / row.visitors, 6) if row.visitors else "",
            round(row.value_sum, 2),
            round(row.dwell_sum, 2),
        ]


def csv_safe(row: Iterable[object]) -> list[object]:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe (OWASP's advice)."""
    return [f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell for cell in row]


def _breadcrumbs(slot: Slot) -> list[dict[str, str]]:
    viewset = Slot.snippet_viewset
    return [
        {"url": reverse("wagtailadmin_home"), "label": "Home"},
        {"url": reverse(viewset.get_url_name("list")), "label": "Slots"},
        {"url": reverse(viewset.get_url_name("edit"), args=[slot.pk]), "label": slot.name},
        {"url": "", "label": "Results"},
    ]
