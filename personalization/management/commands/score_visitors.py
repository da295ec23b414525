"""``manage.py score_visitors``: cache model scores for recently active visitors (the scoring task's code)."""

from __future__ import annotations

import sys
from datetime import timedelta

from django.core.management.base import BaseCommand

from personalization.scoring import visitors_score


class Command(BaseCommand):
    help = "Score visitors active in the last --hours against each model slot's active model and cache the scores."

    def add_arguments(self, parser):
        parser.add_argument("--slot", help="Only this slot key.")
        parser.add_argument(
            "--hours", type=float, default=1.0, help="Visitors seen within this many hours (default 1)."
        )

    def handle(self, *args, slot=None, hours=1.0, **options):
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            sys.stderr.write(f"\rscored {done} visitors…")
            sys.stderr.flush()

        cached = visitors_score(slot_key=slot, active_within=timedelta(hours=hours), progress=progress)
        if done:
            sys.stderr.write("\n")
        self.stdout.write(self.style.SUCCESS(f"Cached {cached} visitor scores."))
