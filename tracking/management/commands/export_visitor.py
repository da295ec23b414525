"""``manage.py export_visitor ID``: print everything stored about a visitor as JSON."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from tracking.selectors import visitor_export


class Command(BaseCommand):
    help = "Print everything stored about one visitor (visitor, consent, events, decisions, features) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("visitor_id")

    def handle(self, *args, visitor_id, **options):
        try:
            uuid.UUID(visitor_id)
        except ValueError:
            raise CommandError(f"{visitor_id!r} is not a visitor id (a UUID).") from None
        self.stdout.write(json.dumps(visitor_export(visitor_id), cls=DjangoJSONEncoder, indent=2))
