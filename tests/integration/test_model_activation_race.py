"""Two activations of one slot at once, on PostgreSQL: they take turns, and the audit log tells what happened.

An hourly promotion and an operator's rollback can meet. Without a lock, the later
one would not see the version the earlier one activated, leave it serving and fail on
the one-active-model-per-slot constraint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from .stack import ROOT, python

pytestmark = pytest.mark.integration

SETUP = """
import django, json; django.setup()
from personalization.models import ModelVersion
made = [ModelVersion.objects.create(slot_key="race-hero", model_text="", status=s) for s in ("active", "candidate", "candidate")]
print(json.dumps([v.pk for v in made]))
"""

# Activates a version and holds the transaction open until told to commit.
HOLD = """
import sys, django; django.setup()
from django.db import transaction
from personalization.learning.activation import ActivateModelVersionAction
from personalization.models import ModelVersion
with transaction.atomic():
    ActivateModelVersionAction(ModelVersion.objects.get(pk=int(sys.argv[1])), source="promotion").execute()
    print("holding", flush=True)
    sys.stdin.readline()
"""

STATE = """
import django, json; django.setup()
from wagtail.models import ModelLogEntry
from personalization.models import ModelVersion
print(json.dumps({
    "status": {v.pk: v.status for v in ModelVersion.objects.filter(slot_key="race-hero")},
    "replaced": {e.object_id: e.data["previous_version"] for e in ModelLogEntry.objects.filter(action="tailor.model.activate", label__startswith="race-hero")},
}))
"""


# The stack's database is shared by the integration tests that follow: an active version whose
# text is no model would make their servers log a traceback for it.
CLEANUP = """
import django; django.setup()
from personalization.models import ModelVersion
ModelVersion.objects.filter(slot_key="race-hero").delete()
"""


@pytest.fixture
def race_versions_removed(stack_env):
    yield
    python(stack_env, CLEANUP)


def waiting_for_a_lock(pg) -> bool:
    row = pg.execute("select count(*) from pg_stat_activity where wait_event_type = 'Lock'").fetchone()
    return row[0] > 0


def test_a_rollback_during_a_promotion_waits_for_it_and_replaces_what_it_activated(
    stack_env, pg, race_versions_removed
):
    serving, promoted, rolled_back = json.loads(python(stack_env, SETUP))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(promoted)],
        cwd=ROOT,
        env=stack_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        operator = subprocess.Popen(
            [sys.executable, "manage.py", "activate_model", str(rolled_back), "--reason", "rollback"],
            cwd=ROOT,
            env=stack_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not waiting_for_a_lock(pg):
            assert operator.poll() is None, operator.communicate()
            assert time.monotonic() < deadline, "the second activation never reached the lock"
            time.sleep(0.1)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
        out, err = operator.communicate(timeout=60)
        assert operator.returncode == 0, err
    finally:
        holder.kill()
    state = json.loads(python(stack_env, STATE))
    assert state["status"] == {str(serving): "retired", str(promoted): "retired", str(rolled_back): "active"}
    assert state["replaced"] == {str(promoted): serving, str(rolled_back): promoted}
