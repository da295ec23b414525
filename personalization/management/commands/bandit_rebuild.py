"""``manage.py bandit_rebuild [--slot KEY]``: recompute bandit posteriors from the decision log, then publish.

For after a loss (Redis flushed without persistence: the fold job also notices and rebuilds by itself) or
after changing what a slot rewards, so the posteriors count the whole log by the new rule.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from content.selectors import slot_definitions_live
from personalization.learning.bandits import bandits_rebuild


class Command(BaseCommand):
    help = "Recompute bandit posteriors (every bandit slot's, or one's) from the decision log and publish them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--slot", help="The key of one bandit slot (default: every one).")

    def handle(self, *args: Any, slot: str | None = None, **options: Any) -> None:
        if slot is not None:
            definition = slot_definitions_live().get(slot)
            if definition is None or definition.strategy != "bandit":
                raise CommandError(f"No published slot with the bandit strategy has the key {slot!r}.")
        report = bandits_rebuild(slot_key=slot)
        if report.skipped:
            raise CommandError("A fold or rebuild is running; try again in a minute.")
        self.stdout.write(
            f"Rebuilt {report.arms} arms from {report.decisions} bandit decisions; "
            f"published {report.allocations} allocations."
        )
