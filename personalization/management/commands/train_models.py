"""``manage.py train_models [--slot KEY] [--json]``: train, evaluate and (if not worse) promote slot models."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from personalization.learning.training import TrainingError, model_slots, model_train
from personalization.management.progress import ProgressBar


class Command(BaseCommand):
    help = "Train a LightGBM reward model per model-strategy slot (the code the Celery task runs) and report it."

    def add_arguments(self, parser):
        parser.add_argument("--slot", help="Only this slot key (any published slot; default: every model slot).")
        parser.add_argument("--json", action="store_true", help="Print a JSON list with one object per slot.")
        parser.add_argument("--no-promote", action="store_true", help="Keep new versions as candidates.")

    def handle(self, *args, slot=None, no_promote=False, **options):
        as_json = options["json"]
        slots = [slot] if slot else model_slots()
        if not slots:
            raise CommandError("No published slot uses the model strategy.")
        reports, failures = [], []
        for key in slots:
            try:
                with ProgressBar(f"{key}: reading decisions", unit="decisions", quiet=as_json) as bar:
                    report = model_train(key, promote=not no_promote, progress=bar.update)
            except TrainingError as exc:
                failures.append(str(exc))
                self.stderr.write(self.style.WARNING(str(exc)))
                continue
            reports.append(report)
            if as_json:
                continue
            auc = f"{report.auc:.3f}" if report.auc is not None else "n/a"
            logloss = f"{report.logloss:.4f}" if report.logloss is not None else "n/a"
            self.stdout.write(
                f"{key}: {report.rows} rows, {report.positives} positives, cross-validated AUC {auc}, log-loss {logloss}"
            )
            self.stdout.write(("  promoted: " if report.promoted else "  candidate: ") + report.note)
        if as_json:
            self.stdout.write(json.dumps([r.__dict__ for r in reports], indent=2, default=str))
        if failures and not reports:
            raise CommandError(
                f"No slot was trained: {failures[0]}"
                if len(failures) == 1
                else f"None of {len(failures)} slots was trained."
            )
