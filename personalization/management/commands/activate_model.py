"""``manage.py activate_model VERSION [--reason TEXT]``: serve this model version for its slot (or roll back to it)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from personalization.learning.activation import ActivateModelVersionAction
from personalization.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Activate a model version (the Models screen's Activate button from the shell): it serves its slot "
        "in every process within seconds, and the audit log records it."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="The version's number, as the Models screen shows it (#12).")
        parser.add_argument("--reason", default="", help="Why, for the audit log (an incident, a rollback, ...).")

    def handle(self, *args, version, reason, **options):
        try:
            chosen = ModelVersion.objects.defer("model_text").get(pk=version)
        except ModelVersion.DoesNotExist:
            raise CommandError(f"No model version #{version}; the Models screen lists them.") from None
        # Whoever runs manage.py has the server's shell: a system action, audited without a user.
        ActivateModelVersionAction(chosen, source="command", reason=reason).execute()
        self.stdout.write(f"Model #{chosen.pk} now serves slot {chosen.slot_key!r}.")
