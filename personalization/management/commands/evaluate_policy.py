"""``manage.py evaluate_policy --slot KEY [--folds K] [--json]``: off-policy estimates of policies on the decision log."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from personalization.learning.evaluation import ESTIMATORS, FOLDS, policy_evaluate
from personalization.learning.training import TrainingError


class Command(BaseCommand):
    help = (
        "Estimate, on every logged decision, the value of the logged policy, uniform random, each variant and a "
        "model trained on the log (cross-fitted, kept in memory: nothing is stored)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--slot", required=True)
        parser.add_argument(
            "--folds",
            type=int,
            default=FOLDS,
            help=f"Cross-fitting folds for DM, DR and the model: each is scored by a model trained on the others "
            f"(default {FOLDS}).",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, slot, folds, **options):
        if folds < 2:
            raise CommandError(
                f"--folds must be at least 2: each fold is scored by a model trained on the others, got {folds}."
            )
        try:
            result = policy_evaluate(slot, folds=folds)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        model = "model" in result["policies"]
        how = f"; DM and DR cross-fitted over {result['folds']} folds" if model else ""
        self.stdout.write(f"{result['slot']}: estimated on all {result['rows']} logged decisions{how}")
        if result.get("note"):
            self.stdout.write(self.style.WARNING(f"No model estimate: {result['note']}"))
        interval = "DR" if model else "IPS"
        self.stdout.write(f"{'policy':<28}{'IPS':>8}{'SNIPS':>8}{'DM':>8}{'DR':>8}   95% CI ({interval})")
        notes = []
        for name, row in result["policies"].items():
            cells = "".join(f"{row[e]:>8.4f}" if row[e] is not None else f"{'-':>8}" for e in ESTIMATORS)
            ci95 = f"[{row['ci95'][0]:.4f}, {row['ci95'][1]:.4f}]" if row["ci95"] is not None else "-"
            self.stdout.write(f"{name:<28}{cells}   {ci95}")
            if row.get("note"):
                notes.append(f"{name}: {row['note']}")
        for note in notes:
            self.stdout.write(self.style.WARNING(note))
