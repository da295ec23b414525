"""``manage.py evaluate_policy --slot KEY [--json]``: off-policy estimates of policies on the decision log."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from personalization.evaluation import ESTIMATORS, policy_evaluate
from personalization.training import TrainingError


class Command(BaseCommand):
    help = "Estimate, on logged decisions, the value of the logged policy, uniform random, each variant and the model."

    def add_arguments(self, parser):
        parser.add_argument("--slot", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, slot, **options):
        try:
            result = policy_evaluate(slot)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        rows, logged = result["rows"], result["rows_logged"]
        scope = "" if rows == logged else f" (of {logged} logged: those after the model's training window)"
        self.stdout.write(f"{result['slot']}: estimated on {rows} logged decisions{scope}")
        if result.get("note"):
            self.stdout.write(
                self.style.WARNING(
                    f"No model estimate: {result['note']}" if "model" not in result["policies"] else result["note"]
                )
            )
        interval = "DR" if "model" in result["policies"] else "IPS"
        self.stdout.write(f"{'policy':<28}{'IPS':>8}{'SNIPS':>8}{'DM':>8}{'DR':>8}   95% CI ({interval})")
        for name, row in result["policies"].items():
            low, high = row["ci95"]
            cells = "".join(f"{row[e]:>8.4f}" if row[e] is not None else f"{'-':>8}" for e in ESTIMATORS)
            self.stdout.write(f"{name:<28}{cells}   [{low:.4f}, {high:.4f}]")
