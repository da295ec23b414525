"""The bandit on the production stack (PostgreSQL, Redis): counted online, folded, rebuilt after a FLUSHALL.

Decisions go through the decisions API (buffered in Redis, the trials in the same pipeline), clicks
through the events API (the Redis stream, then the writer that counts the rewards); the fold moves the
counts to PostgreSQL. A FLUSHALL loses the counts, and the next fold rebuilds the same posterior from
the decision log.
"""

from __future__ import annotations

import json
import statistics

import pytest

from .stack import python

pytestmark = pytest.mark.integration

SCRIPT = """
import django, json, statistics, time, uuid
django.setup()
import redis.connection
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection
from content.services import slot_publish
from personalization.engine.bandits import Allocation
from personalization.learning.bandits import bandits_fold
from personalization.models import BanditArm
from personalization.serving import bandits as serving
from personalization.serving.decide import decide
from tests.factories.slots import hero_params
from tracking.decision_sinks import DecisionBatch
from tracking.event_stream import events_stream_consume
from tracking.services import decisions_flush
from tracking.visitors import VisitorState

key = "it-bandit-" + uuid.uuid4().hex[:8]
slot_publish({"key": key, "name": key, "strategy": "bandit",
              "variants": [(v, v, 1, hero_params(v)) for v in ("a", "b")]})
slot_publish({"key": key + "-fixed", "name": key, "strategy": "fixed",
              "variants": [(v, v, 1, hero_params(v)) for v in ("a", "b")]})
bandits_fold()
decisions_flush()  # what earlier tests left buffered: the count below is this script's alone
client = Client(HTTP_HOST="127.0.0.1")

def post(path, body, visitor):
    return client.post(path, data=json.dumps(body), content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor)

sends = [0]
send = redis.connection.Connection.send_packed_command
def counted(self, *args, **kwargs):
    sends[0] += 1
    return send(self, *args, **kwargs)
redis.connection.Connection.send_packed_command = counted

shown, writes, round_trips, fixed_round_trips = {"a": 0, "b": 0}, [], [], []
for i in range(30):
    sends[0] = 0
    post("/api/v1/decisions/", {"slots": [key + "-fixed"]}, str(uuid.uuid4()))  # the same request, no bandit
    fixed_round_trips.append(sends[0])
    visitor = str(uuid.uuid4())
    sends[0] = 0
    with CaptureQueriesContext(connection) as queries:
        decision = post("/api/v1/decisions/", {"slots": [key]}, visitor).json()["decisions"][0]
    round_trips.append(sends[0])
    writes += [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    shown[decision["variant"]["key"]] += 1
    if decision["variant"]["key"] == "a":
        now = int(time.time() * 1000)
        clicks = [{"id": str(uuid.uuid4()), "ts": now + j, "type": "click", "decision_id": decision["decision_id"]}
                  for j in range(2)]  # a double click
        assert post("/api/v1/events/", {"events": clicks}, visitor).status_code == 202
redis.connection.Connection.send_packed_command = send

# A value reward: two conversions of one visit make one decision worth 42.5 (the Lua script's running value).
value_key = key + "-value"
value_slot = slot_publish({"key": value_key, "name": value_key, "strategy": "bandit",
                           "variants": [(v, v, 1, hero_params(v)) for v in ("a", "b")]})
value_slot.reward = "value"
value_slot.save_revision().publish()
valued = {"a": 0, "b": 0}
for i in range(4):
    visitor = str(uuid.uuid4())
    decision = post("/api/v1/decisions/", {"slots": [value_key]}, visitor).json()["decisions"][0]
    valued[decision["variant"]["key"]] += 1
    for j, value in enumerate((30.0, 12.5)):
        sale = {"id": str(uuid.uuid4()), "ts": int(time.time() * 1000) + 1000 + j, "type": "conversion", "value": value}
        assert post("/api/v1/events/", {"events": [sale]}, visitor).status_code == 202

in_db_before_fold = BanditArm.objects.filter(slot_key=key).count()
flushed = decisions_flush()
consumed = events_stream_consume("bandit-test", budget_seconds=1.0, block_ms=100)
bandits_fold()
again = bandits_fold()

def posterior(slot=key):
    return {r.variant_key: [round(r.n, 9), round(r.total, 9), round(r.squares, 9)]
            for r in BanditArm.objects.filter(slot_key=slot, segment="")}

folded, folded_value = posterior(), posterior(value_key)
get_redis_connection("default").flushall()
rebuilt = bandits_fold()

# Served shares follow the allocation published in the shared cache (Redis).
serving.allocations_publish(key, {"": Allocation(probabilities={"a": 0.7, "b": 0.3}, version="it", method="closed-form", draws=0)})
batch = DecisionBatch()
chosen = [decide(key, VisitorState(id=str(uuid.uuid4())), {}, sink=batch).variant.key for _ in range(2000)]
print(json.dumps({
    "shown": shown, "writes": writes, "round_trips": round_trips, "fixed_round_trips": fixed_round_trips, "in_db_before_fold": in_db_before_fold,
    "flushed": flushed, "consumed": consumed, "again": again.as_dict(), "folded": folded,
    "rebuilt": rebuilt.as_dict(), "after_flushall": posterior(), "valued": valued,
    "folded_value": folded_value, "after_flushall_value": posterior(value_key), "share_a": chosen.count("a") / len(chosen),
    "versions": sorted({r["policy_version"] for r in batch.records}),
}))
"""


def test_bandit_counts_online_folds_and_rebuilds_after_flushall(stack_env):
    result = json.loads(python(stack_env, SCRIPT).strip().splitlines()[-1])
    shown = result["shown"]
    assert result["writes"] == [], result["writes"]  # no database write in the decisions request
    # The trial and the decision's memory ride the request's one write pipeline: no round trip of their own.
    assert statistics.median(result["round_trips"]) == statistics.median(result["fixed_round_trips"]), result
    assert result["in_db_before_fold"] == 0
    assert result["flushed"] == 64  # the bandit decisions, the fixed slot's and the value slot's
    assert result["consumed"] == 2 * shown["a"] + 8
    # Each decision is a trial; each "a" decision's double click is one reward.
    expected = {"a": [shown["a"], shown["a"], shown["a"]], "b": [shown["b"], 0.0, 0.0]}
    assert result["folded"] == {k: v for k, v in expected.items() if v[0]}, result
    assert result["again"]["arms"] == 0  # idempotent: nothing left to fold
    assert result["rebuilt"]["rebuilt"] is True
    assert result["after_flushall"] == result["folded"]
    valued = {k: [n, 42.5 * n, 42.5**2 * n] for k, n in result["valued"].items() if n}
    assert result["folded_value"] == valued, result
    assert result["after_flushall_value"] == valued
    assert 0.66 < result["share_a"] < 0.74
    assert result["versions"] == ["it"]
