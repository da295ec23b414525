"""RedisBatch on a real Redis: one packed send for every command, errors raised only once all replies are read."""

from __future__ import annotations

import uuid

import pytest
import redis as redis_lib
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from devtools.services import free_port
from tracking.redis_batch import RedisBatch

pytestmark = pytest.mark.integration


@pytest.fixture
def key():
    return f"test:batch:{uuid.uuid4().hex}"


def _sends(monkeypatch) -> list[int]:
    sends: list[int] = []
    send = redis_lib.connection.Connection.send_packed_command

    def counted(self, *args, **kwargs):
        sends.append(1)
        return send(self, *args, **kwargs)

    monkeypatch.setattr(redis_lib.connection.Connection, "send_packed_command", counted)
    return sends


def test_every_command_method_queues_and_one_send_writes_them_all(redis_client, key, monkeypatch):
    batch = RedisBatch(redis_client)
    batch.execute_command("SET", f"{key}:s", b"v", "EX", 60)
    batch.hincrby(f"{key}:h", "n", 2)
    batch.hset(f"{key}:m", mapping={"a": "x", "k": 1})
    batch.expire(f"{key}:m", 120)
    batch.rpush(f"{key}:l", "one", "two")
    assert len(batch) == 5
    redis_client.ping()  # the pool's connection is open before counting
    sends = _sends(monkeypatch)
    batch.execute()
    assert len(sends) == 1
    assert len(batch) == 0  # sent: a second execute sends nothing
    batch.execute()
    assert len(sends) == 1
    assert redis_client.get(f"{key}:s") == b"v"
    assert 0 < redis_client.ttl(f"{key}:s") <= 60
    assert redis_client.hget(f"{key}:h", "n") == b"2"
    assert redis_client.hgetall(f"{key}:m") == {b"a": b"x", b"k": b"1"}
    assert 0 < redis_client.ttl(f"{key}:m") <= 120
    assert redis_client.lrange(f"{key}:l", 0, -1) == [b"one", b"two"]


def test_an_error_reply_is_raised_after_the_commands_behind_it_ran_and_the_connection_stays_usable(redis_client, key):
    redis_client.set(f"{key}:text", "not a hash")
    batch = RedisBatch(redis_client)
    batch.hincrby(f"{key}:text", "n", 1)  # WRONGTYPE
    batch.rpush(f"{key}:after", "written")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        batch.execute()
    assert redis_client.lrange(f"{key}:after", 0, -1) == [b"written"]
    # Every reply was read: the pooled connection answers the next command with its own reply.
    again = RedisBatch(redis_client)
    again.rpush(f"{key}:after", "again")
    again.execute()
    assert redis_client.lrange(f"{key}:after", 0, -1) == [b"written", b"again"]
    assert redis_client.get(f"{key}:text") == b"not a hash"


def test_an_unreachable_server_raises_the_connection_error_the_outage_guards_catch():
    client = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    batch = RedisBatch(client)
    batch.rpush("anything", "x")
    with pytest.raises(RedisConnectionError):
        batch.execute()


def test_a_connection_the_server_dropped_does_not_lose_the_batch(redis_server, redis_client, key):
    client = redis_lib.Redis.from_url(redis_server.url)
    pooled = client.client_id()  # the connection the pool now holds
    redis_client.client_kill_filter(_id=pooled)
    batch = RedisBatch(client)
    batch.rpush(f"{key}:after-drop", "kept")
    batch.execute()
    assert redis_client.lrange(f"{key}:after-drop", 0, -1) == [b"kept"]
    assert client.client_id() != pooled  # it went over a new connection
