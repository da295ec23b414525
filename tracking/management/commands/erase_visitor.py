"""``manage.py erase_visitor ID``: erase a visitor's data (decisions are kept, anonymised)."""

from django.core.management.base import BaseCommand

from tracking.management.commands._arguments import visitor_id_argument
from tracking.services import visitor_erase


class Command(BaseCommand):
    help = "Erase a visitor: events, consent, features and visitor row are deleted; decisions are anonymised."

    def add_arguments(self, parser):
        parser.add_argument("visitor_id", type=visitor_id_argument)

    def handle(self, *args, visitor_id, **options):
        erased = visitor_erase(visitor_id)
        summary = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in erased.items())
        self.stdout.write(self.style.SUCCESS(f"Erased visitor {visitor_id}: {summary}."))
