"""``manage.py import_decision_log FILE --slot KEY``: logged bandit feedback from another system."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from personalization.learning.importing import ImportFileError, decision_log_import


class Command(BaseCommand):
    help = (
        "Import decisions from a CSV or Parquet file with timestamp, action, reward and propensity columns "
        "(other columns are context features), creating the slot and variants it names if needed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--slot", required=True)

    def handle(self, *args, file, slot, **options):
        try:
            report = decision_log_import(file, slot)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        for line, message in report.errors[:50]:
            self.stderr.write(f"line {line}: {message} (skipped)")
        if len(report.errors) > 50:
            self.stderr.write(f"… and {len(report.errors) - 50} more bad rows")
        if not report.imported:
            what = f"all {report.rows} rows are bad" if report.rows else "it has no rows"
            raise CommandError(f"Nothing imported into {slot!r}: {what}. No slot or variant was created or changed.")
        if report.non_binary_rewards:
            self.stderr.write(
                f"{report.non_binary_rewards} rows have a reward other than 0 or 1: Tailor learns whether a decision "
                "was rewarded, so each counts as rewarded (reward > 0) or not, with the reward kept as the event's value."
            )
        created = " Created slot." if report.slot_created else ""
        if report.variants_created:
            created += f" New variants: {', '.join(report.variants_created)}."
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.imported} of {report.rows} rows into {slot!r}; {len(report.errors)} skipped.{created}"
            )
        )
