"""The guardrail job: every live variant of every guarded slot against its control, from the rollups.

For each live slot whose ``guardrail_action`` is not "off", each live variant other than control
is compared with control on each of the slot's ``guardrail_metrics`` (``VariantDay`` sums, and a
goal's ``GoalDay`` sums for ``goal:<key>`` / ``goal_value:<key>``; never raw events) and on render errors (``serving.render_counts``), with the one-sided
always-valid test of ``engine.statistics.guardrails``. The slot's ``guardrail_alpha`` is the
chance of acting on a variant that does no harm, split over that variant's tests.

Only randomized exposure is compared, since elsewhere who sees a variant differs from who sees
control: a weighted split's own traffic (group "", assigned by hash at fixed weights) and every
experiment on the slot in which both are arms (group ``experiment:<key>``, against the
experiment's control). Rules and model slots choose by who the visitor is; a bandit's allocation
moves with its evidence (a variant that lost early is seen mostly in early traffic), so their own
traffic is not compared; they are guarded inside their experiments and on render errors, which
are a defect of the variant rather than of its audience.

The data is the variant's since its content last changed (its micro-template, parameters, or
being un-paused), at most ``GUARDRAIL_MAX_DAYS``, and never the day of a guardrail action on it
(rollups are daily: that day mixes what was harmful with what replaced it). A harm found acts
(``guardrail_action`` "act"): when the variant changed in the slot's latest published revision,
the slot is rolled back to the previous revision, unless that latest revision is itself a
guardrail rollback; otherwise the variant is paused. "report" only writes the audit entry, once
per variant, metric and live revision. Either way editors see it (``notices``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry, Revision

from content.models import Slot
from content.services import slot_rollback_system, slot_variant_pause_system

from ..conf import setting
from ..engine.statistics import VariantSums
from ..engine.statistics.guardrails import RENDER_TUNING, HarmTest, alpha_split, harm_test
from ..models import Experiment
from ..results.selectors import Metric, _variant_sums, metric_get, metric_title
from ..serving.render_counts import render_counts_get

logger = logging.getLogger(__name__)

PAUSE = "tailor.guardrail_pause"
ROLLBACK = "tailor.guardrail_rollback"
REPORT = "tailor.guardrail_report"
ACTIONS = (PAUSE, ROLLBACK, REPORT)
RENDER_ERRORS = "render_errors"
RANDOMIZED_STRATEGIES = ("split",)
PUBLISHES_READ = 50  # published revisions looked back through for a variant's last change


@dataclass(frozen=True)
class Finding:
    slot: str
    variant: str
    metric: str
    group: str
    test: HarmTest
    action: str  # "pause", "rollback", "report", or "" (nothing new to do)


@dataclass
class GuardrailReport:
    slots: int = 0
    tests: int = 0
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "slots": self.slots,
            "tests": self.tests,
            "findings": [
                {"slot": f.slot, "variant": f.variant, "metric": f.metric, "group": f.group, "action": f.action}
                for f in self.findings
            ],
        }


@dataclass(frozen=True)
class _Publish:
    at: datetime
    revision: Revision


def _publishes(slot: Slot) -> list[_Publish]:
    """The slot's published revisions, newest first (from Wagtail's audit log)."""
    entries = (
        ModelLogEntry.objects.for_instance(slot)
        .filter(action="wagtail.publish", revision__isnull=False)
        .select_related("revision")
        .order_by("-timestamp", "-pk")[:PUBLISHES_READ]
    )
    return [_Publish(entry.timestamp, entry.revision) for entry in entries]


def _variant_state(revision: Revision, key: str) -> tuple[Any, ...] | None:
    """What makes a variant what visitors see: its micro-template and parameters, and whether it is live."""
    for variant in revision.content.get("variants") or []:
        if variant.get("key") == key:
            return (variant.get("params"), bool(variant.get("is_paused")))
    return None


def _changed(publishes: Sequence[_Publish], key: str) -> tuple[datetime | None, bool]:
    """(when the variant's live state last changed, whether that was in the latest published revision)."""
    for i, publish in enumerate(publishes):
        state = _variant_state(publish.revision, key)
        before = _variant_state(publishes[i + 1].revision, key) if i + 1 < len(publishes) else None
        if i + 1 == len(publishes) or state != before:
            return publish.at, i == 0 and i + 1 < len(publishes)
    return None, False


def _actions_on(slot: Slot, since: datetime) -> list[ModelLogEntry]:
    return list(
        ModelLogEntry.objects.for_instance(slot).filter(action__in=ACTIONS, timestamp__gte=since).order_by("-timestamp")
    )


def _arm(sums: dict[str, VariantSums], key: str, kind: str) -> VariantSums:
    return sums.get(key) or VariantSums(key, 0, 0.0, 0.0 if kind == "mean" else None)


def _comparisons(slot: Slot, variant: str, control: str, start: date, end: date) -> list[tuple[str, str]]:
    """(group, control) pairs in which ``variant`` and a control were assigned at random."""
    pairs = [("", control)] if slot.strategy in RANDOMIZED_STRATEGIES else []
    # A draft never served anyone: it would only take a share of α.
    for experiment in Experiment.objects.filter(slot=slot, first_published_at__isnull=False):
        arms = list(experiment.variants or [])
        if len(arms) < 2 or variant not in arms[1:]:
            continue
        if experiment.starts_at.astimezone(UTC).date() > end or experiment.stops_at.astimezone(UTC).date() < start:
            continue
        pairs.append((f"experiment:{experiment.key}", arms[0]))
    return pairs


def _metrics(slot: Slot) -> list[tuple[str, Metric]]:
    """The slot's guardrail metrics that still exist: a goal deleted since the slot was saved is skipped, said once."""
    out = []
    for name in slot.guardrail_metrics or ():
        try:
            out.append((name, metric_get(name)))
        except ValueError as exc:
            logger.warning("Slot %r: guardrail metric skipped: %s", slot.key, exc)
    return out


def guardrails_check(*, now: datetime | None = None) -> GuardrailReport:
    """Run the guardrails of every live slot that has them on; act or report as each slot says."""
    now = now or timezone.now()
    report = GuardrailReport()
    for slot in Slot.objects.filter(live=True).exclude(guardrail_action="off").prefetch_related("variants"):
        report.slots += 1
        try:
            slot_guardrails_check(slot, now=now, report=report)
        except Exception:  # one slot's failure never stops the others' guardrails
            logger.exception("Guardrails of slot %r failed.", slot.key)
    if report.findings:
        logger.info("Guardrails: %s", report.as_dict())
    return report


def slot_guardrails_check(slot: Slot, *, now: datetime, report: GuardrailReport) -> None:
    variants = list(slot.variants.all())
    live = [v for v in variants if not v.is_paused]
    control = slot.default_variant or (variants[0].key if variants else "")
    if not any(v.key == control for v in live):
        return  # control is paused or gone: nothing to compare with
    today = now.astimezone(UTC).date()
    earliest = today - timedelta(days=int(setting("GUARDRAIL_MAX_DAYS")) - 1)
    publishes = _publishes(slot)
    actions = _actions_on(slot, datetime.combine(earliest, datetime.min.time(), tzinfo=UTC))
    metrics = _metrics(slot)
    tuning = float(setting("GUARDRAIL_TUNING"))
    for variant in live:
        if variant.key == control:
            continue
        changed_at, in_latest = _changed(publishes, variant.key)
        start = earliest
        if changed_at is not None:
            start = max(start, changed_at.astimezone(UTC).date())
        for entry in actions:
            if entry.action != REPORT and entry.data.get("variant") == variant.key:
                start = max(start, entry.timestamp.astimezone(UTC).date() + timedelta(days=1))
        if start > today:
            continue
        pairs = _comparisons(slot, variant.key, control, start, today)
        metric_alpha, render_alpha = alpha_split(slot.guardrail_alpha, len(metrics) * len(pairs))
        found: tuple[str, str, str, HarmTest] | None = None
        live_keys = {v.key for v in live}
        for group, group_control in pairs:
            if group_control not in live_keys:
                continue  # the experiment's control is paused: nothing randomized to compare with now
            for metric, chosen in metrics:
                sums = _variant_sums(slot.key, start, today, chosen, group=group)
                test = harm_test(
                    _arm(sums, group_control, chosen.kind),
                    _arm(sums, variant.key, chosen.kind),
                    kind=chosen.kind,
                    alpha=metric_alpha,
                    min_drop=slot.guardrail_min_drop,
                    tuning=tuning,
                )
                report.tests += 1
                if test.harmful and found is None:
                    found = (metric, group, group_control, test)
        renders = render_counts_get(slot.key, [control, variant.key], start, today)
        (control_renders, control_errors), (variant_renders, variant_errors) = renders[control], renders[variant.key]
        if variant_errors and found is None:
            test = harm_test(
                VariantSums(control, control_renders, float(min(control_errors, control_renders)))
                if control_renders
                else None,
                VariantSums(variant.key, variant_renders, float(min(variant_errors, variant_renders))),
                kind="rate",
                alpha=render_alpha,
                worse="higher",
                tuning=RENDER_TUNING,
            )
            report.tests += 1
            if test.harmful:
                found = (RENDER_ERRORS, "", control, test)
        if found is None:
            continue
        metric, group, compared_with, test = found
        action = _act(
            slot, variant.key, compared_with, metric, group, test, (start, today), publishes, actions, in_latest
        )
        report.findings.append(Finding(slot.key, variant.key, metric, group, test, action))
        if action in ("pause", "rollback"):
            return  # the slot changed: its other variants are checked on the next run, against the new revision


def _evidence(
    slot: Slot, variant: str, control: str, metric: str, group: str, test: HarmTest, window: tuple[date, date]
) -> dict[str, Any]:
    names = {v.key: v.name for v in slot.variants.all()}
    return {
        "slot": slot.key,
        "variant": variant,
        "variant_name": names.get(variant, variant),
        "control": control,
        "control_name": names.get(control, control),
        "metric": metric,
        "metric_name": "Render errors" if metric == RENDER_ERRORS else metric_title(metric),
        "group": group,
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()},
        "min_drop": slot.guardrail_min_drop,
        "slot_alpha": slot.guardrail_alpha,
        "mode": slot.guardrail_action,
        **test.as_evidence(),
    }


def _act(
    slot: Slot,
    variant: str,
    control: str,
    metric: str,
    group: str,
    test: HarmTest,
    window: tuple[date, date],
    publishes: Sequence[_Publish],
    actions: Sequence[ModelLogEntry],
    in_latest: bool,
) -> str:
    data = _evidence(slot, variant, control, metric, group, test, window)
    if slot.guardrail_action != "act":
        reported = any(
            entry.action == REPORT
            and entry.data.get("variant") == variant
            and entry.data.get("metric") == metric
            and entry.data.get("live_revision") == slot.live_revision_id
            for entry in actions
        )
        if reported:
            return ""
        log(instance=slot, action=REPORT, data={**data, "live_revision": slot.live_revision_id})
        return "report"
    latest_is_rollback = bool(publishes) and any(
        entry.action == ROLLBACK and entry.data.get("revision") == publishes[0].revision.pk for entry in actions
    )
    if in_latest and len(publishes) > 1 and not latest_is_rollback:
        previous = publishes[1].revision
        data.update(rolled_back_from=publishes[0].revision.pk, rolled_back_to=previous.pk)
        rolled = slot_rollback_system(
            slot.key, previous.pk, log_action=ROLLBACK, data=data, live_revision_id=publishes[0].revision.pk
        )
        if rolled is not None:
            logger.warning("Guardrail rolled slot %r back to revision %s: %s", slot.key, previous.pk, data)
            return "rollback"
    if slot_variant_pause_system(slot.key, variant, log_action=PAUSE, data=data) is not None:
        logger.warning("Guardrail paused variant %r of slot %r: %s", variant, slot.key, data)
        return "pause"
    return ""
