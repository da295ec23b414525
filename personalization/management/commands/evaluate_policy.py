"""``manage.py evaluate_policy --slot KEY [--json]``: off-policy estimates of policies on the decision log."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from personalization.evaluation import policy_evaluate
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
        self.stdout.write(f"{result['slot']}: {result['rows']} logged decisions")
        self.stdout.write(f"{'policy':<28}{'IPS':>8}{'SNIPS':>8}{'DM':>8}{'DR':>8}   95% CI (DR)")
        for name, row in result["policies"].items():
            low, high = row["ci95"]
            self.stdout.write(
                f"{name:<28}{row['ips']:>8.4f}{row['snips']:>8.4f}{row['dm']:>8.4f}{row['dr']:>8.4f}   [{low:.4f}, {high:.4f}]"
            )
