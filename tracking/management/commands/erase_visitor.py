"""``manage.py erase_visitor ID``: erase a visitor's data (decisions are kept, anonymised)."""

import uuid

from django.core.management.base import BaseCommand, CommandError

from tracking.services import visitor_erase


class Command(BaseCommand):
    help = "Erase a visitor: events, consent, features and visitor row are deleted; decisions are anonymised."

    def add_arguments(self, parser):
        parser.add_argument("visitor_id")

    def handle(self, *args, visitor_id, **options):
        try:
            uuid.UUID(visitor_id)
        except ValueError:
            raise CommandError(f"{visitor_id!r} is not a visitor id (a UUID).") from None
        erased = visitor_erase(visitor_id)
        summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in erased.items())
        self.stdout.write(self.style.SUCCESS(f"Erased visitor {visitor_id}: {summary}."))
