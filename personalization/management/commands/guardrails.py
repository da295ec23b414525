"""``manage.py guardrails``: run the guardrail job now (as beat does hourly) and print what it found and did.

Each slot acts as its own ``guardrail_action`` says (act, report, off); the output is the task's
JSON: slots checked, tests run, and each finding with its action ("pause", "rollback", "report",
or "" when it was already reported for the live revision).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from personalization.guardrails.checks import guardrails_check


class Command(BaseCommand):
    help = "Test every guarded slot's live variants against control; pause, roll back or report as each slot says."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(guardrails_check().as_dict(), indent=2))
