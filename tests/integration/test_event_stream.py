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
from tracking.redis_connection import redis_default
client = redis_default()
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


def test_an_events_batch_costs_three_redis_round_trips(stack_env):
    # Both rate limits in one script call; the visit count, consent, decision owners and feature
    # state in one MGET; the id claims, stream append and features write in one script call: each
    # round trip costs the web worker and Redis more CPU than a batch's checks.
    sent = json.loads(python(stack_env, ROUND_TRIPS).strip().splitlines()[-1])
    assert sorted(sent) == ["EVALSHA", "EVALSHA", "MGET"], sent


LINGER = """
import json, sys, threading, time, uuid
import django
django.setup()
from django.conf import settings
from tracking import event_stream
from tracking.event_ingest import events_ingest

settings.TAILOR = {**settings.TAILOR, "EVENT_WRITE_LINGER_MS": int(sys.argv[1])}
writes = []
persist = event_stream.event_records_persist
event_stream.event_records_persist = lambda records: writes.append(len(records)) or persist(records)


def feed():  # five batches of a visitor's events, 30 ms apart: the tracker's steady trickle
    for _ in range(5):
        now = int(time.time() * 1000)
        events = [{"id": str(uuid.uuid4()), "type": "scroll", "ts": now, "value": 50} for _ in range(10)]
        assert events_ingest(events, visitor_id=str(uuid.uuid4())).accepted == 10
        time.sleep(0.03)


event_stream.events_stream_consume("linger-drain", budget_seconds=0.3, block_ms=50)  # earlier tests' entries
writes.clear()
feeder = threading.Thread(target=feed)
feeder.start()
written = event_stream.events_stream_consume("linger-test", budget_seconds=1.0, block_ms=100)
feeder.join()
print(json.dumps({"written": written, "writes": [w for w in writes if w]}))
"""


def test_a_writer_lets_batches_arriving_within_the_linger_into_one_write(stack_env):
    def run(linger_ms: int) -> dict:
        code = LINGER.replace("sys.argv[1]", str(linger_ms))
        return json.loads(python(stack_env, code).strip().splitlines()[-1])

    lingering = run(250)
    assert lingering["written"] == 50
    assert lingering["writes"] == [50], lingering  # every batch of the 120 ms trickle in one transaction
    eager = run(0)
    assert eager["written"] == 50
    assert len(eager["writes"]) >= 3, eager  # without it, a write for about every batch


FEATURES_ON_RETRY = """
import json, time, uuid
import django
django.setup()
from django.core.cache import cache
from django.test import Client
from tracking.feature_store import features_key

client = Client(HTTP_HOST="127.0.0.1")
visitor = str(uuid.uuid4())


def post(events):
    answer = client.post(
        "/api/v1/events/", {"events": events}, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    )
    return answer.json()


def scrolls(n):
    return [{"id": str(uuid.uuid4()), "type": "scroll", "ts": int(time.time() * 1000), "value": 40} for _ in range(n)]


first, later = scrolls(3), scrolls(2)
answers = [post(first), post(first + later)]  # the second is a retry of the first with two new events
print(json.dumps({"answers": answers, "scroll_n": cache.get(features_key(visitor))["scroll_n"]}))
"""


def test_a_retried_batch_folds_only_its_new_events_into_the_features(stack_env):
    # The script stores the state folded over the whole batch only when every event was new; a
    # retry's duplicates make ingest fold the new ones alone into the state the script read.
    result = json.loads(python(stack_env, FEATURES_ON_RETRY).strip().splitlines()[-1])
    assert [(a["accepted"], a["duplicates"]) for a in result["answers"]] == [(3, 0), (2, 3)], result
    assert result["scroll_n"] == 5, result


DEDUPE_PERIODS = """
import json, time, uuid
import django
django.setup()
from django_redis import get_redis_connection
from tracking.conf import setting
from tracking.event_ingest import events_ingest, events_seen_key
from tracking.services import visitor_erase

now, window = time.time(), setting("EVENT_DEDUPE_SECONDS")
visitor = str(uuid.uuid4())
events = [{"id": str(uuid.uuid4()), "type": "scroll", "ts": int(now * 1000), "value": 10} for _ in range(3)]
answers = [
    events_ingest(events, visitor_id=visitor, now=at)
    for at in (now, now + 0.5 * window, now + window, now + 2.5 * window)
]
redis = get_redis_connection("default")
own = events_seen_key(visitor, int(now // window))
ttl = redis.ttl(own)
visitor_erase(visitor)
print(json.dumps({
    "answers": [[a.accepted, a.duplicates] for a in answers], "ttl": ttl, "window": window,
    "kept_after_erasure": redis.exists(own),
}))
"""


def test_a_retried_event_is_a_duplicate_for_at_least_the_dedupe_window(stack_env):
    # The ids are claimed in the visitor's set of the current period; the previous period's set is
    # read too, so an id is known for one to two windows, and erasure deletes the visitor's sets.
    result = json.loads(python(stack_env, DEDUPE_PERIODS).strip().splitlines()[-1])
    # Seen now, half a window later and a window later (the previous period's set); new again after two.
    assert result["answers"] == [[3, 0], [0, 3], [0, 3], [3, 0]], result
    assert result["window"] < result["ttl"] <= 2 * result["window"], result
    assert result["kept_after_erasure"] == 0, result
