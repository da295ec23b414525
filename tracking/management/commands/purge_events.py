"""``manage.py purge_events --older-than 90d``: enforce the retention period."""

import re

from django.core.management.base import BaseCommand, CommandError

from tracking.conf import setting
from tracking.services import events_purge


def days(value: str) -> int:
    match = re.fullmatch(r"(\d+)d?", value.strip())
    if not match:
        raise CommandError(f"--older-than takes a number of days such as 90d, not {value!r}.")
    return int(match.group(1))


class Command(BaseCommand):
    help = "Delete events older than the given age (default: the TAILOR RETENTION_DAYS setting)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default=None, help="Age such as 90d (days).")

    def handle(self, *args, older_than=None, **options):
        limit = days(older_than) if older_than else setting("RETENTION_DAYS")
        deleted = events_purge(older_than_days=limit)
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} events older than {limit} days."))
