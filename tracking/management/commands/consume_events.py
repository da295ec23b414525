"""``manage.py consume_events``: a dedicated writer that moves events from the Redis stream to the database."""

import os
import socket

from django.core.management.base import BaseCommand

from tracking.event_stream import events_stream_consume


class Command(BaseCommand):
    help = "Write events from the Redis stream to the database until stopped (or for --seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=0, help="Stop after this long (0: run until stopped).")

    def handle(self, *args, seconds=0, **options):
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        total = 0
        try:
            if seconds:
                total = events_stream_consume(consumer, budget_seconds=seconds)
            else:
                while True:
                    total += events_stream_consume(consumer, budget_seconds=60)
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"Wrote {total} events.")
