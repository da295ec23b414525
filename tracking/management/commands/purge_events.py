"""``manage.py purge_events --older-than 90d``: enforce the retention period on every store."""

import re

from django.core.management.base import BaseCommand, CommandError

from tracking.conf import setting
from tracking.services import retention_purge


def days(value: str) -> int:
    match = re.fullmatch(r"(\d+)d?", value.strip())
    if not match:
        raise CommandError(f"--older-than takes a number of days such as 90d, not {value!r}.")
    return int(match.group(1))


class Command(BaseCommand):
    help = (
        "Enforce the retention period (default: the TAILOR RETENTION_DAYS setting): delete older events, "
        "take the visitor id off older decisions, delete visitors not seen since with their consent records "
        "(a record that refuses analytics or personalization is kept, so the refusal holds)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default=None, help="Age such as 90d (days).")

    def handle(self, *args, older_than=None, **options):
        limit = days(older_than) if older_than else setting("RETENTION_DAYS")
        done = retention_purge(older_than_days=limit)
        self.stdout.write(
            self.style.SUCCESS(
                f"Older than {limit} days: deleted {done['events']} events, anonymised "
                f"{done['decisions_anonymised']} decisions, deleted {done['visitors']} visitors, "
                f"{done['consent']} consent records and {done['dead_letters']} dead letters."
            )
        )
