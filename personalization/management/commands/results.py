"""``manage.py results --slot KEY [--experiment KEY]``: roll up what is pending, then print the slot's (or one
experiment's) results (the API's JSON with --json)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from personalization.results.experiments import ExperimentNotFoundError, slot_experiment_results
from personalization.results.rollup import results_rollup
from personalization.results.selectors import (
    DEFAULT_DAYS,
    MAX_DAYS,
    METRICS,
    SlotNotFoundError,
    metric_get,
    slot_results_recent,
)


def _number(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _interval(pair: list[float] | None, spec: str) -> str:
    return "–" if pair is None else f"[{format(pair[0], spec)}, {format(pair[1], spec)}]"


def results_table(body: dict[str, Any]) -> str:
    """The results body as a few aligned lines for a terminal."""
    percent = body["metric"].endswith("_rate") or body["metric"].startswith("goal:")
    rate = ".2%" if percent else ".3f"
    lines = [
        f"Slot {body['slot']}, {body['metric']}, {body['window']['start']} to {body['window']['end']} (UTC)",
        "",
        f"{'variant':<20} {'visitors':>10} {'conversions':>12} {'rate':>10}  95 % interval",
    ]
    for variant in body["variants"]:
        mark = " (control)" if variant["key"] == body["control"] else ""
        lines.append(
            f"{(variant['key'] + mark):<20} {variant['visitors']:>10,} {variant['conversions']:>12,.6g} "
            f"{_number(variant['rate'], rate):>10}  {_interval(variant['ci95'], rate)}"
        )
    if body["comparisons"]:
        lines += ["", f"{'variant':<20} {'lift':>9}  {'95 % interval':<22} {'p':>7} {'always-valid 95 %':<22} beats"]
        for c in body["comparisons"]:
            lines.append(
                f"{c['variant']:<20} {_number(c['lift'], '+.1%'):>9}  {_interval(c['lift_ci95'], '+.1%'):<22} "
                f"{_number(c['p_value'], '.3f'):>7} {_interval(c['sequential_ci95'], '+.1%'):<22} "
                f"{_number(c['chance_to_beat'], '.0%')}"
            )
    factorial = body.get("factorial")
    if factorial:
        effect = "+.2%" if factorial["kind"] == "rate" else "+.3f"  # a rate's effect in points, e.g. +2.85%
        lines += ["", f"{'factor level vs baseline':<44} {'effect':>9}  {'always-valid 95 %':<22} {'p (adj.)':>8}"]
        for term in factorial["terms"]:
            lines.append(
                f"{term['name'][:44]:<44} {_number(term['estimate'], effect):>9}  "
                f"{_interval(term['sequential_ci95'], effect):<22} {_number(term['sequential_p_value'], '.3f'):>8}"
            )
    srm = body["srm_p_value"]
    lines += ["", f"Sample-ratio check: {'not applicable' if srm is None else f'p = {srm:.3g}'}"]
    cuped = body.get("cuped")
    if cuped is not None:
        said = (
            f"adjusted for {cuped['covariate']}, {cuped['variance_reduction']:.0%} less variance"
            if cuped["applied"]
            else f"not applied ({cuped['reason']})"
        )
        lines.append(f"CUPED: {said}")
    lines += ["", body["verdict"]]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Roll up pending results, then print a slot's results per variant (--json: the results API's body)."

    def add_arguments(self, parser):
        parser.add_argument("--slot", required=True, help="The slot's key.")
        parser.add_argument("--json", action="store_true", help="Print the JSON of GET /api/v1/slots/<key>/results/.")
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"The last N days (default {DEFAULT_DAYS}).")
        parser.add_argument(
            "--metric",
            help=f"One of {', '.join(METRICS)}, goal:<goal key> or goal_value:<goal key>."
            " Default: what the slot is rewarded on.",
        )
        parser.add_argument(
            "--experiment", help="An experiment's key: its variants only, over its own window (--days is ignored)."
        )
        parser.add_argument(
            "--no-cuped", action="store_true", help="Compare the raw figures, without CUPED's prior-visits adjustment."
        )

    def handle(
        self,
        *args,
        slot: str,
        json: bool = False,
        days: int = DEFAULT_DAYS,
        metric=None,
        experiment=None,
        no_cuped: bool = False,
        **options,
    ):
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}, got {days}.")
        if metric is not None:
            try:
                metric_get(metric)
            except ValueError as error:
                raise CommandError(f"--{error}") from None
        results_rollup()  # what is pending first, so the numbers are current
        try:
            if experiment:
                body = slot_experiment_results(slot, experiment, metric=metric, cuped=not no_cuped)
            else:
                body = slot_results_recent(slot, days=days, metric=metric, cuped=not no_cuped)
        except SlotNotFoundError:
            raise CommandError(f"No slot has the key {slot!r}.") from None
        except ExperimentNotFoundError:
            raise CommandError(f"No experiment has the key {experiment!r} on the slot {slot!r}.") from None
        self.stdout.write(_dumps(body) if json else results_table(body))


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False)
