"""``manage.py export_visitor ID``: print everything stored about a visitor as JSON."""

import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from tracking.management.commands._arguments import visitor_id_argument
from tracking.selectors import visitor_export


class Command(BaseCommand):
    help = "Print everything stored about one visitor (visitor, consent, events, decisions, features) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("visitor_id", type=visitor_id_argument)

    def handle(self, *args, visitor_id, **options):
        self.stdout.write(json.dumps(visitor_export(visitor_id), cls=DjangoJSONEncoder, indent=2))
