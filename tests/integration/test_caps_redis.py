"""Frequency caps on the production stack (PostgreSQL + Redis): what a capped slot costs, and that it holds.

Through the decisions API and event ingest as a headless client calls them: the visitor's exposures
are read with the visitor (the same round trip) and written in the request's one batch; a variant at its cap leaves the
visitor's candidates, every variant capped gives the default (policy "capped"), a click makes a
decayed variant new again, and the entry expires on its own.
"""

from __future__ import annotations

import json

import pytest

from .stack import python

pytestmark = pytest.mark.integration

SCRIPT = """
import django, json, statistics, time, uuid
django.setup()
import redis.connection
from django.core.cache import cache
from django.test import Client
from content.models import Slot
from content.services import slot_publish
from tests.factories.slots import hero_params

SLOTS = {  # key: (cap_per_visit, novelty_after, novelty_decay)
    "caps-hero": (1, 0, 0.5), "caps-offer": (0, 1, 0.0), "plain-hero": (0, 0, 0.5), "plain-offer": (0, 0, 0.5),
}
for key, (per_visit, after, decay) in SLOTS.items():
    if Slot.objects.filter(key=key).exists():
        continue
    slot = slot_publish({"key": key, "name": key, "strategy": "split",
                         "variants": [(v, v, 1, hero_params(v)) for v in ("a", "b")]})
    slot.cap_per_visit, slot.novelty_after, slot.novelty_decay = per_visit, after, decay
    slot.save_revision().publish()

sends = [0]
send = redis.connection.Connection.send_packed_command
def counted(self, *args, **kwargs):
    sends[0] += 1
    return send(self, *args, **kwargs)
redis.connection.Connection.send_packed_command = counted

client = Client(HTTP_HOST="127.0.0.1")
visitor = str(uuid.uuid4())
def ask(*slots):
    sends[0] = 0
    answer = client.post("/api/v1/decisions/", {"slots": list(slots)}, content_type="application/json",
                         HTTP_X_TAILOR_VISITOR=visitor)
    assert answer.status_code == 200, answer.content
    return sends[0], {d["slot"]: d for d in answer.json()["decisions"]}

ask("plain-hero")  # warm: catalog, consent, visit count
trips = {"plain": [], "capped": []}
for _ in range(5):  # interleaved, on another visitor each time so that no cap binds
    visitor = str(uuid.uuid4()); ask("plain-hero")
    trips["plain"].append(ask("plain-hero", "plain-offer")[0])
    visitor = str(uuid.uuid4()); ask("plain-hero")
    trips["capped"].append(ask("caps-hero", "caps-offer")[0])

visitor = str(uuid.uuid4())
hero = [ask("caps-hero")[1]["caps-hero"] for _ in range(3)]
offer = [ask("caps-offer")[1]["caps-offer"] for _ in range(3)]
key = cache.make_key("tailor:exposures:" + visitor)
ttl = cache.ttl("tailor:exposures:" + visitor)
sends[0] = 0
clicked = client.post("/api/v1/events/", {"events": [{"id": str(uuid.uuid4()), "type": "click",
                      "decision_id": offer[0]["decision_id"], "ts": int(time.time() * 1000)}]},
                      content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor)
click_trips = sends[0]
assert clicked.json()["accepted"] == 1, clicked.content
after_click = ask("caps-offer")[1]["caps-offer"]
redis.connection.Connection.send_packed_command = send
print(json.dumps({
    "trips": trips, "hero": [(d["variant"]["key"], d["policy"], d["propensity"]) for d in hero],
    "offer": [(d["variant"]["key"], d["policy"], d["propensity"]) for d in offer],
    "after_click": (after_click["variant"]["key"], after_click["policy"], after_click["propensity"]),
    "ttl": ttl, "click_trips": click_trips,
}))
"""


def test_caps_hold_on_redis_and_cost_one_read_per_request(stack_env, redis_client):
    result = json.loads(python(stack_env, SCRIPT).strip().splitlines()[-1])
    trips = result["trips"]
    # The visitor's exposures ride the read of the visitor (no GET of their own); the write rides the page's batch.
    assert sorted(trips["capped"])[2] == sorted(trips["plain"])[2], trips
    (a, p1, _), (b, p2, q2), third = result["hero"]
    assert {a, b} == {"a", "b"}
    assert (p1, p2, q2) == ("split", "split", 1.0), result  # the second: the one variant left, for certain
    assert third == ["a", "capped", 1.0], result  # both at the per-visit cap: the default (the first variant)
    (x, _, _), (y, _, _), offer_third = result["offer"]
    assert x != y  # one unanswered view with decay 0: not shown again
    assert offer_third[1] == "capped", result
    assert result["after_click"] == [x, "split", 1.0], result  # the click made it new again
    assert 0 < result["ttl"] <= 24 * 3600, result
    print(json.dumps({"median_round_trips": {k: sorted(v)[2] for k, v in trips.items()}}))
