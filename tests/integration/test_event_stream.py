"""Events through the real path: HTTP ingest → Redis stream → writer → PostgreSQL, with faults."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from celery import Celery

from .stack import Server, manage, python

pytestmark = pytest.mark.integration

STREAM = "tailor:events"


def post_events(server: Server, visitor: str, events: list[dict]) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/events/",
        data=json.dumps({"events": events}).encode(),
        headers={"Content-Type": "application/json", "X-Tailor-Visitor": visitor},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        assert response.status == 202
        return json.loads(response.read())


def page_decisions(server: Server, visitor: str) -> list[str]:
    status, html, _ = server.get("/bench/personalized/", headers={"X-Tailor-Visitor": visitor})
    assert status == 200
    return re.findall(r'data-tailor-decision="([0-9a-f]{32})"', html)


def make_events(n: int, decision: str | None = None) -> list[dict]:
    now = int(time.time() * 1000)
    return [
        {
            "id": str(uuid.uuid4()),
            "type": "click" if decision else "scroll",
            "decision_id": decision,
            "ts": now,
            "value": 50,
        }
        for _ in range(n)
    ]


def events_in_db(pg, ids: list[str]) -> int:
    return pg.execute(
        "select count(*) from tracking_event where id = any(%s)", ([uuid.UUID(i) for i in ids],)
    ).fetchone()[0]


def test_accepted_events_reach_postgres_exactly_once_through_a_celery_writer(server, worker, pg, redis_server):
    visitor = str(uuid.uuid4())
    decision = page_decisions(server, visitor)[0]
    batch = make_events(50, decision)
    assert post_events(server, visitor, batch) == {"accepted": 50, "duplicates": 0, "rejected": []}
    assert post_events(server, visitor, batch)["duplicates"] == 50  # a retried batch counts nothing twice
    app = Celery(broker=redis_server.url, backend=redis_server.url)
    written = app.send_task("tracking.tasks.events_consume", kwargs={"budget_seconds": 1.0}, queue="ingest").get(
        timeout=60
    )
    assert written >= 50
    assert events_in_db(pg, [e["id"] for e in batch]) == 50
    rows = pg.execute(
        "select count(distinct decision_id) from tracking_event where id = any(%s)",
        ([uuid.UUID(e["id"]) for e in batch],),
    ).fetchone()[0]
    assert rows == 1


def test_writer_killed_mid_batch_loses_and_doubles_nothing(server, stack_env, pg, redis_client):
    visitor = str(uuid.uuid4())
    first, second = make_events(30), make_events(30)
    post_events(server, visitor, first)
    post_events(server, visitor, second)
    # Writer A reads both entries, commits the first batch, and dies before acknowledging anything.
    python(
        stack_env,
        f"""
import django, json, os
django.setup()
from tracking.event_writes import event_records_persist
from tracking.event_ingest import _redis
client = _redis()
try:
    client.xgroup_create({STREAM!r}, "writers", id="0", mkstream=True)
except Exception:
    pass
entries = client.xreadgroup("writers", "doomed-writer", {{{STREAM!r}: ">"}}, count=1000)[0][1]
records = [r for _, fields in entries for r in json.loads(fields[b"events"])]
event_records_persist(records[:30])
os._exit(9)
""",
        expect_exit=9,
    )
    pending = redis_client.xpending(STREAM, "writers")["pending"]
    assert pending >= 2
    assert events_in_db(pg, [e["id"] for e in first]) == 30
    assert events_in_db(pg, [e["id"] for e in second]) == 0
    # A new writer reclaims what the dead one left pending.
    manage({**stack_env, "TAILOR_EVENT_CLAIM_IDLE_SECONDS": "0"}, "consume_events", "--seconds", "1")
    ids = [e["id"] for e in first + second]
    assert events_in_db(pg, ids) == 60
    assert (
        pg.execute("select count(*) from tracking_event where id = any(%s)", ([uuid.UUID(i) for i in ids],)).fetchone()[
            0
        ]
        == 60
    )
    assert redis_client.xpending(STREAM, "writers")["pending"] == 0


def test_redis_down_during_ingest_loses_no_accepted_event(stack_env, stack_dir, pg):
    """Redis dies with a batch still in the stream and another arriving: both end up in PostgreSQL once."""
    from devtools.services import start_redis

    own_redis = start_redis(durable=True)  # production runs Redis with an fsynced append-only file
    env = {**stack_env, "REDIS_URL": own_redis.url}
    server = Server(env, stack_dir / "gunicorn-ingest-redis-down.log")
    try:
        visitor = str(uuid.uuid4())
        streamed = make_events(20)
        assert post_events(server, visitor, streamed)["accepted"] == 20
        own_redis.kill()
        during = make_events(20)
        assert post_events(server, visitor, during)["accepted"] == 20
        assert events_in_db(pg, [e["id"] for e in during]) == 20  # written straight to PostgreSQL
        assert server.get("/bench/personalized/")[0] == 200
        assert "writing events directly" in server.output()  # outage_guard: logged once, counted
        assert "Traceback" not in server.output()
        own_redis.restart()
        assert events_in_db(pg, [e["id"] for e in streamed]) == 0  # still in the stream
        manage(env, "consume_events", "--seconds", "1")
        assert events_in_db(pg, [e["id"] for e in streamed + during]) == 40
    finally:
        server.stop()
        own_redis.stop()


def test_celery_writer_killed_mid_run_then_restarted_stores_everything_once(
    server, stack_env, pg, redis_server, tmp_path
):
    from .stack import Worker

    visitor = str(uuid.uuid4())
    ids: list[str] = []
    for _ in range(40):
        batch = make_events(50)
        assert post_events(server, visitor, batch)["accepted"] == 50
        ids += [e["id"] for e in batch]
    env = {**stack_env, "TAILOR_EVENT_CLAIM_IDLE_SECONDS": "1"}
    app = Celery(broker=redis_server.url, backend=redis_server.url)
    doomed = Worker(env, tmp_path / "doomed.log")
    try:
        app.send_task("tracking.tasks.events_consume", kwargs={"budget_seconds": 5.0}, queue="ingest")
        deadline = time.monotonic() + 20
        while "events_consume" not in doomed.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        doomed.proc.kill()  # SIGKILL while it reads and writes
        doomed.proc.wait(timeout=10)
    finally:
        doomed.stop()
    survivor = Worker(env, tmp_path / "survivor.log")
    try:
        time.sleep(1.2)  # the dead writer's entries become claimable
        app.send_task("tracking.tasks.events_consume", kwargs={"budget_seconds": 1.0}, queue="ingest").get(timeout=60)
    finally:
        survivor.stop()
    assert events_in_db(pg, ids) == 2000


def test_redis_and_database_both_down_answers_503_with_retry_after(stack_dir):
    """Nothing can store the batch: the answer tells the tracker to retry rather than pretending to accept it."""
    from devtools.services import start_postgres, start_redis

    from .stack import production_env

    own_pg, own_redis = start_postgres(), start_redis()
    env = production_env(own_pg.url, own_redis.url, stack_dir / "both-down")
    server = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        server = Server(env, stack_dir / "gunicorn-both-down.log")
        visitor = str(uuid.uuid4())
        assert post_events(server, visitor, make_events(5))["accepted"] == 5
        own_redis.kill()
        own_pg.stop()
        # Plain events fail at the write; events naming a decision fail earlier, at the owner lookup.
        for events in (make_events(5), make_events(5, decision=uuid.uuid4().hex)):
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}/api/v1/events/",
                data=json.dumps({"events": events}).encode(),
                headers={"Content-Type": "application/json", "X-Tailor-Visitor": visitor},
                method="POST",
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)  # noqa: S310 - loopback only
            assert refused.value.code == 503, events[0]
            assert refused.value.headers["Retry-After"] == "5"
    finally:
        if server is not None:
            server.stop()
        own_redis.stop()
        own_pg.stop()


ROUND_TRIPS = """
import json, time, uuid
import django
django.setup()
import redis.client
from django.test import Client

sent = []
execute = redis.client.Redis.execute_command


def counted(self, *args, **options):
    sent.append(str(args[0]))
    return execute(self, *args, **options)


redis.client.Redis.execute_command = counted
client = Client(HTTP_HOST="127.0.0.1")
visitor = str(uuid.uuid4())
answer = client.post(
    "/api/v1/decisions/", {"slots": ["home-hero"]}, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
)
decision = answer.json()["decisions"][0]["decision_id"]


def batch():
    now = int(time.time() * 1000)
    return [
        {"id": str(uuid.uuid4()), "type": "click", "decision_id": decision if i % 5 == 0 else None, "ts": now}
        for i in range(50)
    ]


for _ in range(2):  # the first batch loads the scripts, caches the consent record and counts the visit
    sent.clear()
    answer = client.post(
        "/api/v1/events/", {"events": batch()}, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    )
    assert answer.json()["accepted"] == 50, answer.content
print(json.dumps(sent))
"""


def test_an_events_batch_costs_five_redis_round_trips(stack_env):
    # Both rate limits in one script call, the visit count and consent in one MGET, the decision
    # owners in one MGET, the id claims, stream append and features read in one script call, and
    # the features write: each round trip costs the web worker and Redis more CPU than a batch's checks.
    sent = json.loads(python(stack_env, ROUND_TRIPS).strip().splitlines()[-1])
    assert sorted(sent) == ["EVALSHA", "EVALSHA", "MGET", "MGET", "SET"], sent
