"""``manage.py train_models [--slot KEY] [--json]``: train, evaluate and (if not worse) promote slot models."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from personalization.training import TrainingError, model_slots, model_train


class Command(BaseCommand):
    help = "Train a LightGBM reward model per model-strategy slot (the code the Celery task runs) and report it."

    def add_arguments(self, parser):
        parser.add_argument("--slot", help="Only this slot key.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object per slot.")
        parser.add_argument("--no-promote", action="store_true", help="Keep new versions as candidates.")

    def handle(self, *args, slot=None, no_promote=False, **options):
        as_json = options["json"]
        slots = [slot] if slot else model_slots()
        if not slots:
            raise CommandError("No published slot uses the model strategy.")
        reports = []
        for key in slots:
            read = 0

            def progress(n: int, key: str = key) -> None:
                nonlocal read
                read += n
                if not as_json:
                    sys.stderr.write(f"\r{key}: read {read} decisions…")
                    sys.stderr.flush()

            try:
                report = model_train(key, promote=not no_promote, progress=progress)
            except TrainingError as exc:
                if not as_json:
                    sys.stderr.write("\n")
                self.stderr.write(self.style.WARNING(str(exc)))
                continue
            reports.append(report)
            if as_json:
                continue
            sys.stderr.write("\n")
            auc = f"{report.auc:.3f}" if report.auc is not None else "n/a"
            logloss = f"{report.logloss:.4f}" if report.logloss is not None else "n/a"
            self.stdout.write(
                f"{key}: {report.rows} rows, {report.positives} positives, validation AUC {auc}, log-loss {logloss}"
            )
            self.stdout.write(("  promoted: " if report.promoted else "  candidate: ") + report.note)
        if as_json:
            self.stdout.write(_json([r.__dict__ for r in reports]))


def _json(value) -> str:
    return json.dumps(value, indent=2, default=str)
