"""Poison records on PostgreSQL + Redis: the writers set them aside and write everything else.

PostgreSQL refuses what SQLite stores (NUL and lone surrogates in JSON, malformed ids);
one such record must never stall a writer, cost the good records beside it, or leave
stream entries pending. Refused records land in the dead-letter table, and
``manage.py dead_letters replay`` writes them again (or keeps them, with the new reason).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from .stack import Server, manage, python
from .test_event_stream import STREAM, events_in_db, make_events, post_events

GROUP = "writers"


def record(visitor: str, **fields) -> dict:
    """A stream record as ingest writes it (epoch seconds, canonical ids)."""
    now = time.time()
    base = {
        "id": str(uuid.uuid4()),
        "type": "scroll",
        "decision_id": None,
        "ts": now,
        "value": 40.0,
        "props": {},
        "visitor_id": visitor,
        "received_at": now,
        "is_bot": False,
        "ip_prefix": "",
    }
    return {**base, **fields}


def dead_letters(pg) -> dict[str, dict]:
    """Pending dead letters of kind event, by the id in their payload (or the raw payload)."""
    rows = pg.execute(
        "select id, reason, payload, replayed_at from tracking_deadletter where kind = 'event' order by id"
    ).fetchall()
    letters = {}
    for pk, reason, payload, replayed_at in rows:
        data = json.loads(payload)
        letters[data.get("id") or data.get("stream_entry") or payload] = {
            "pk": pk,
            "reason": reason,
            "payload": data,
            "replayed_at": replayed_at,
        }
    return letters


def test_stream_writer_sets_poison_aside_and_writes_every_good_record(server, stack_env, pg, redis_client):
    """Poison interleaved with good batches from other visitors: all good rows land, nothing pending."""
    good_ids: list[str] = []
    poison: dict[str, str] = {}  # key in the dead-letter store -> what is wrong with it

    def post_good() -> None:
        batch = make_events(5)
        assert post_events(server, str(uuid.uuid4()), batch)["accepted"] == 5
        good_ids.extend(e["id"] for e in batch)

    def xadd(records_text: str) -> None:
        redis_client.xadd(STREAM, {"events": records_text})

    post_good()
    # A NUL in props between two good records of another visitor (the crash in the issue).
    visitor = str(uuid.uuid4())
    nul = record(visitor, props={"note": "a\u0000b"})
    beside = [record(visitor), record(visitor, type="click")]
    xadd(json.dumps([beside[0], nul, beside[1]]))
    good_ids += [r["id"] for r in beside]
    poison[nul["id"]] = "Unicode"
    post_good()
    # A lone surrogate, a malformed id, a timestamp out of range, a type too long for its column.
    surrogate = record(str(uuid.uuid4()), props={"note": "\ud800"})
    bad_id = record(str(uuid.uuid4()), id="not-a-uuid")
    far = record(str(uuid.uuid4()), ts=1e300)
    long_type = record(str(uuid.uuid4()), type="x" * 40)
    ok = record(str(uuid.uuid4()))
    xadd(json.dumps([surrogate, ok, bad_id, far, long_type]))  # json.dumps writes \ud800 and NUL escaped
    good_ids.append(ok["id"])
    poison.update({surrogate["id"]: "", "not-a-uuid": "", far["id"]: "", long_type["id"]: ""})
    post_good()
    # An entry that is not JSON at all, and one without the events field.
    redis_client.xadd(STREAM, {"events": b"{not json"})
    redis_client.xadd(STREAM, {"other": b"[]"})
    post_good()

    manage(stack_env, "consume_events", "--seconds", "1")

    assert events_in_db(pg, good_ids) == len(good_ids)
    letters = dead_letters(pg)
    for key, why in poison.items():
        assert key in letters, f"{key} not dead-lettered: {sorted(letters)}"
        assert why in letters[key]["reason"]
    entries = [k for k, v in letters.items() if "unreadable stream entry" in v["reason"]]
    assert len(entries) >= 2
    assert letters[nul["id"]]["payload"]["props"] == {"note": "a\u0000b"}  # kept exactly as it came
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
    assert redis_client.xlen(STREAM) == 0


def test_direct_writer_sets_a_poison_record_aside_and_writes_the_batch(stack_env, pg):
    """Defence in depth: a record the decoder would have cleaned reaches the writer anyway."""
    visitor = str(uuid.uuid4())
    good = [record(visitor) for _ in range(6)]
    nul = record(visitor, props={"n\u0000": "x"})
    records = good[:3] + [nul] + good[3:]
    out = python(
        stack_env,
        f"""
import django, json
django.setup()
from tracking.event_writes import event_records_persist
fresh = event_records_persist(json.loads({json.dumps(json.dumps(records))}))
print(len(fresh))
""",
    )
    assert out.strip() == "7"  # six written, one set aside: all taken care of
    assert events_in_db(pg, [r["id"] for r in good]) == 6
    assert events_in_db(pg, [nul["id"]]) == 0
    assert (
        "UntranslatableCharacter" in dead_letters(pg)[nul["id"]]["reason"]
        or "Unicode" in (dead_letters(pg)[nul["id"]]["reason"])
    )


def test_redis_down_batch_with_a_nul_is_stored_whole_not_503(stack_env, stack_dir, pg):
    """With Redis down, two good events and one with a NUL in its props are written directly (NUL stripped)."""
    from devtools.services import start_redis

    own_redis = start_redis()
    env = {**stack_env, "REDIS_URL": own_redis.url}
    server = Server(env, stack_dir / "gunicorn-ingest-poison-redis-down.log")
    try:
        own_redis.kill()
        visitor = str(uuid.uuid4())
        batch = make_events(3)
        batch[1]["props"] = {"label": "Buy\u0000 now", "na\u0000me": "x"}
        answer = post_events(server, visitor, batch)  # asserts 202
        assert answer == {"accepted": 3, "duplicates": 0, "rejected": []}
        assert events_in_db(pg, [e["id"] for e in batch]) == 3
        props = pg.execute("select props from tracking_event where id = %s", (uuid.UUID(batch[1]["id"]),)).fetchone()
        assert props[0] == {"label": "Buy now", "name": "x"}
        assert "Traceback" not in server.output()
    finally:
        server.stop()
        own_redis.stop()


def test_dead_letters_list_and_replay(stack_env, pg):
    """Replay writes a letter whose cause is gone; one refused again stays pending with the new reason."""
    visitor = str(uuid.uuid4())
    poison = record(visitor, props={"x": "\u0000"})
    fixed = record(visitor)
    python(
        stack_env,
        f"""
import django, json
django.setup()
from tracking.dead_letters import dead_letters_put
records = json.loads({json.dumps(json.dumps([poison, fixed]))})
dead_letters_put("event", [(records[0], "refused at first"), (records[1], "database was read-only")])
""",
    )
    letters = dead_letters(pg)
    listing = manage(stack_env, "dead_letters", "list", "--kind", "event").stdout
    assert f"#{letters[poison['id']]['pk']} event" in listing
    assert "database was read-only" in listing

    with pytest.raises(AssertionError, match=r"Replayed 1; 1 refused again"):  # exits 1: one refused again
        manage(
            stack_env,
            "dead_letters",
            "replay",
            "--id",
            str(letters[poison["id"]]["pk"]),
            "--id",
            str(letters[fixed["id"]]["pk"]),
        )

    after = dead_letters(pg)
    assert after[fixed["id"]]["replayed_at"] is not None
    assert events_in_db(pg, [fixed["id"]]) == 1
    assert after[poison["id"]]["replayed_at"] is None
    assert after[poison["id"]]["reason"] != "refused at first"
    assert events_in_db(pg, [poison["id"]]) == 0
    assert f"#{after[fixed['id']]['pk']} " not in manage(stack_env, "dead_letters", "list").stdout
