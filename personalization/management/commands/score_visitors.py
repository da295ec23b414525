"""``manage.py score_visitors``: cache model scores for recently active visitors (the scoring task's code)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from personalization.learning.scoring import ScoringError, visitors_score
from personalization.management.progress import ProgressBar


class Command(BaseCommand):
    help = "Score visitors active in the last --hours against each model slot's active model and cache the scores."

    def add_arguments(self, parser):
        parser.add_argument("--slot", help="Only this slot key.")
        parser.add_argument(
            "--hours", type=float, default=1.0, help="Visitors seen within this many hours (default 1)."
        )

    def handle(self, *args, slot=None, hours=1.0, **options):
        if not hours > 0:
            raise CommandError(f"--hours must be a positive number of hours, got {hours}.")
        try:
            with ProgressBar("scoring", unit="visitors") as bar:
                cached = visitors_score(slot_key=slot, active_within=timedelta(hours=hours), progress=bar.update)
        except ScoringError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Cached {cached} visitor scores."))
