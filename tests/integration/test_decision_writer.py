"""Poison decisions on the production stack: gunicorn, the Redis buffer, the writer, PostgreSQL.

PostgreSQL refuses NUL and lone surrogates that SQLite stores. A page asked for with
``?q=%00`` used to put such a record at the head of the buffer, and every flush after
failed on it: no decision of any visitor was written again. Now text is cleaned where
it enters, and a record the database refuses anyway is dead-lettered, never in the way.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid

import pytest

from devtools.services import free_port

from .stack import Server, python

pytestmark = pytest.mark.integration

BUFFER = "tailor:decision-buffer"
FLUSH = "import django; django.setup()\nfrom tracking.services import decisions_flush\nprint(decisions_flush())"


def post_json(server: Server, path: str, body: dict, visitor: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Tailor-Visitor": visitor},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def page_decisions(server: Server, path: str, visitor: str, **headers: str) -> list[str]:
    status, html, _ = server.get(path, headers={"X-Tailor-Visitor": visitor, **headers})
    assert status == 200, html[-2000:]
    return [uuid.UUID(d).hex for d in re.findall(r'data-tailor-decision="([0-9a-f-]{32,36})"', html)]


def stored(pg, ids: list[str]) -> set[str]:
    rows = pg.execute("select id from tracking_decisionlog where id = any(%s)", ([uuid.UUID(i) for i in ids],))
    return {row[0].hex for row in rows}


def dead_lettered(pg, ids: list[str]) -> set[str]:
    payloads = [
        json.loads(row[0]) for row in pg.execute("select payload from tracking_deadletter where kind = 'decision'")
    ]
    return {p.get("id") for p in payloads} & set(ids)


def poison_from(template: dict, **changes) -> str:
    """A copy of a real buffered record under a new id, carrying text PostgreSQL refuses."""
    record = {**template, "id": uuid.uuid4().hex, **changes}
    return json.dumps(record)  # ensure_ascii: the NUL and the surrogate travel as \\u escapes, as Python writes them


def test_poison_decisions_are_dead_lettered_and_every_good_one_arrives(server, stack_env, pg, redis_client):
    redis_client.delete(BUFFER)
    good: list[str] = []
    poison: list[str] = []
    # The page that used to stall the writer: a NUL in the query, and one in the API's context attributes.
    from_query = page_decisions(server, "/?q=%00&utm_source=mail%00box", str(uuid.uuid4()))
    status, body = post_json(
        server,
        "/api/v1/decisions/",
        {"slots": ["home-hero"], "context": {"attributes": {"city": "Ly\u0000on"}, "browser": "Fire\u0000fox"}},
        str(uuid.uuid4()),
    )
    assert status == 200, body
    from_api = [d["decision_id"] for d in body["decisions"]]
    good += from_query + from_api
    template = json.loads(redis_client.lindex(BUFFER, 0))
    for visitor_poison in (
        {"context": {**template["context"], "query": {"q": "\x00"}}},
        {"context": {"attributes": {"city": "\ud800"}}},
        {"slot_key": "home\x00hero"},
        {"visitor_id": "not-a-uuid"},
    ):
        # Interleaved: good decisions of other visitors before and after each poison record.
        good += page_decisions(server, "/bench/personalized/", str(uuid.uuid4()))
        line = poison_from(template, **visitor_poison)
        redis_client.rpush(BUFFER, line)
        poison.append(json.loads(line)["id"])
        good += page_decisions(server, "/bench/personalized/", str(uuid.uuid4()))
    redis_client.rpush(BUFFER, b"{not json")
    good += page_decisions(server, "/", str(uuid.uuid4()))
    assert redis_client.llen(BUFFER) == len(good) + len(poison) + 1

    written = int(python(stack_env, FLUSH).strip())

    assert written == len(good)
    assert stored(pg, good) == set(good)
    assert dead_lettered(pg, poison) == set(poison)
    assert not stored(pg, poison)
    assert redis_client.llen(BUFFER) == 0
    contexts = dict(
        pg.execute(
            "select id, context from tracking_decisionlog where id = any(%s)",
            ([uuid.UUID(from_query[0]), uuid.UUID(from_api[0])],),
        ).fetchall()
    )
    by_hex = {k.hex: v for k, v in contexts.items()}
    assert by_hex[from_query[0]]["query"] == {"q": "", "utm_source": "mailbox"}
    assert by_hex[from_api[0]]["attributes"] == {"city": "Lyon"}
    assert by_hex[from_api[0]]["browser"] == "Firefox"
    # The writer is not stalled: the next page's decisions are written by the next run.
    later = page_decisions(server, "/bench/personalized/", str(uuid.uuid4()))
    python(stack_env, FLUSH)
    assert stored(pg, later) == set(later)


@pytest.fixture
def server_without_redis(stack_env, tmp_path):
    env = {**stack_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "CELERY_BROKER_URL": ""}
    process = Server(env, tmp_path / "gunicorn.log")
    yield process, env
    process.stop()


def test_with_redis_down_hostile_requests_are_answered_and_their_decisions_written(server_without_redis, pg):
    server, env = server_without_redis
    visitor = str(uuid.uuid4())
    ids = page_decisions(server, "/?q=%00", visitor)
    ids += page_decisions(server, "/", visitor, Referer="http://[::1")
    status, body = post_json(
        server, "/api/v1/decisions/", {"slots": ["home-hero"], "context": {"attributes": {"x": "\u0000"}}}, visitor
    )
    assert status == 200, body
    ids += [d["decision_id"] for d in body["decisions"]]
    assert stored(pg, ids) == set(ids)  # written directly, in the request
    # The direct write isolates a record PostgreSQL refuses as the flush does.
    good, bad = uuid.uuid4().hex, uuid.uuid4().hex
    python(
        env,
        "import django, time; django.setup()\n"
        "from tracking.services import decision_records_write\n"
        "base = dict(ts=time.time(), slot_key='home-hero', variant_key='hero-default', policy='rules',\n"
        "            policy_version='1', propensity=1.0, visitor_id=None, context={})\n"
        f"decision_records_write([dict(base, id={bad!r}, context={{'q': '\\x00'}}), dict(base, id={good!r})])",
    )
    assert stored(pg, [good, bad]) == {good}
    assert dead_lettered(pg, [bad]) == {bad}
