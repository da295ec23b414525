"""``manage.py dead_letters list|replay``: inspect the records the database refused, and write them again."""

from django.core.management.base import BaseCommand, CommandError

from tracking.dead_letters import dead_letters_replay
from tracking.models import DeadLetter


class Command(BaseCommand):
    help = "List the dead-lettered records (refused by the database), or replay them once the cause is fixed."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("--kind", choices=DeadLetter.Kind.values, help="Only records of this kind.")
        parser.add_argument(
            "--id", type=int, action="append", dest="ids", default=[], help="Only this letter (repeatable)."
        )
        parser.add_argument("--all", action="store_true", help="list: include letters already replayed.")
        parser.add_argument("--limit", type=int, default=100, help="list: show at most this many (default 100).")

    def handle(self, *args, action, kind=None, ids=(), all=False, limit=100, **options):
        if action == "replay":
            result = dead_letters_replay(kind=kind, ids=ids)
            self.stdout.write(f"Replayed {result.replayed}; {result.failed} refused again (kept, with the new reason).")
            if result.failed:
                raise CommandError(f"{result.failed} dead letters were refused again.", returncode=1)
            return
        letters = DeadLetter.objects.order_by("id")
        if not all:
            letters = letters.filter(replayed_at__isnull=True)
        if kind:
            letters = letters.filter(kind=kind)
        if ids:
            letters = letters.filter(id__in=ids)
        total = letters.count()
        for letter in letters[:limit]:
            state = f"replayed {letter.replayed_at:%Y-%m-%d %H:%M:%S}" if letter.replayed_at else "pending"
            self.stdout.write(
                f"#{letter.pk} {letter.kind} {letter.created_at:%Y-%m-%d %H:%M:%S} {state}\n"
                f"  reason: {letter.reason}\n  payload: {letter.payload[:500]}"
            )
        self.stdout.write(f"{total} dead letters{'' if all else ' pending'}.")
