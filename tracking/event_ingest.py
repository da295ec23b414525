"""Event ingest: keep the good events of a batch, and never lose an accepted one.

Each event is checked on its own (``event_rules``). Accepted events are de-duplicated by
their client id and, with the ``redis`` backend, appended as one entry to a Redis stream
that a worker bulk-writes to the database (``event_stream``); the visitor's real-time
features are updated at once (``feature_store``). If Redis fails, the batch is written
straight to the database (``event_writes``); if that fails too, ``IngestUnavailableError``
tells the view to answer 503 so the tracker retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from django.core.cache import cache
from django.db import DatabaseError

from .conf import setting
from .decision_owners import decision_owner_key
from .event_decode import DecodedBatch, events_batch_convert
from .event_rules import decision_id_hex, events_validate
from .event_writes import event_records_persist
from .exceptions import IngestUnavailableError
from .feature_store import UNREAD, features_key, features_state_next, visitor_features_apply
from .outages import outage_guard
from .redis_connection import redis_default

_stream_json = msgspec.json.Encoder()

# Told of each stored batch of a visitor's events (not a bot's), with the cached value of the key the
# listener named for that visitor (read in the script's round trip with the redis backend; UNREAD
# otherwise). Personalization registers the reset of its frequency-cap counters on a click or
# conversion at start-up, as tracking never imports it.
IngestListener = Callable[[str, Sequence[Mapping[str, Any]], Any], None]
_listeners: list[tuple[IngestListener, Callable[[str], str]]] = []


def ingest_listener_register(listener: IngestListener, key: Callable[[str], str]) -> None:
    """Have ``listener(visitor_id, events, cached)`` told of each stored batch; ``key(visitor_id)`` is read for it."""
    if all(known is not listener for known, _ in _listeners):
        _listeners.append((listener, key))


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def events_seen_key(visitor_id: str, period: int) -> str:
    """The set of a visitor's event ids first seen in a dedupe period (a raw Redis key: the script fills it).

    Retries come from the visitor's own tracker, so a set per visitor and period finds them. One key per
    event, as before, cost Redis a command and a key with its own expiry per event: as much CPU as the
    rest of a batch, and at 20,000 events a second a billion keys a day.
    """
    return f"tailor:events-seen:{visitor_id}:{period}"


def events_seen_keys(visitor_id: str, now: float) -> list[str]:
    """The current and the previous period's sets: an id seen at t is found until at least t + the window."""
    period = int(now // setting("EVENT_DEDUPE_SECONDS"))
    return [events_seen_key(visitor_id, period), events_seen_key(visitor_id, period - 1)]


def events_seen_forget(visitor_id: str) -> None:
    """Delete an erased visitor's sets of seen event ids (they would expire within two dedupe windows anyway)."""
    if setting("EVENT_INGEST_BACKEND") != "redis":
        return
    with outage_guard("redis", "an erased visitor's seen event ids not deleted; they expire on their own"):
        redis_default().delete(*events_seen_keys(visitor_id, time.time()))


# Claim a batch's event ids and append its records to the stream as one entry, in one round
# trip. The claims are the visitor's sets of ids for the current and the previous dedupe period
# (``events_seen_keys``): two SMISMEMBERs find retried ids. When none is, the batch's JSON is
# appended as it came and one SADD claims the ids, after the XADD succeeded, so a failed append
# claims nothing and the tracker's retry is not taken for a duplicate. When some are, nothing is
# appended and the caller sends the new records again on their own (a retry is rare; the usual
# batch travels as two arguments instead of two per event, each of which costs the web worker
# and Redis CPU). The same call reads the visitor's cached feature state and the listeners' keys,
# and, when the batch is appended, stores the feature state the caller folded it into. KEYS: the
# current and previous sets, the listeners' keys, the features key, then the stream; ARGV: the
# dedupe window, the features' TTL, the next feature state ("" for none), the ids (36 characters
# each, distinct) end to end, then the records as one JSON array.
# Returns {flags, the features value read, each listener key's value}.
DEDUPE_AND_STREAM = """
local stream, features = KEYS[#KEYS], KEYS[#KEYS - 1]
local ids, joined = {}, ARGV[4]
for i = 1, #joined, 36 do
  ids[#ids + 1] = string.sub(joined, i, i + 35)
end
local current = redis.call('SMISMEMBER', KEYS[1], unpack(ids))
local previous = redis.call('SMISMEMBER', KEYS[2], unpack(ids))
local flags, new = {}, true
for i = 1, #ids do
  if current[i] == 0 and previous[i] == 0 then
    flags[i] = 1
  else
    flags[i] = 0
    new = false
  end
end
local result = {flags, redis.call('GET', features)}
for i = 3, #KEYS - 2 do
  result[#result + 1] = redis.call('GET', KEYS[i])
end
if new then
  local added = redis.pcall('XADD', stream, '*', 'events', ARGV[5])
  if type(added) == 'table' and added.err then
    return added
  end
  redis.call('SADD', KEYS[1], unpack(ids))
  redis.call('EXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
  if ARGV[3] ~= '' then
    redis.call('SET', features, ARGV[3], 'EX', ARGV[2])
  end
end
return result
"""
ID_LENGTH = 36  # a UUID's canonical text, as str(uuid.UUID) writes it


def ingest_read_along(batch: DecodedBatch, visitor_id: str) -> list[str]:
    """The cache keys ingest of ``batch`` reads before it writes, for the caller to read in a round trip it makes
    anyway (the visitor's consent): the owners of the decisions it names and the visitor's feature state."""
    decisions = {decision_id_hex(event.decision_id) for _, event in batch.events if event.decision_id is not None}
    # An id that is not a UUID is refused by the rules: nothing to read for it.
    return [features_key(visitor_id), *(decision_owner_key(d) for d in decisions if d is not None)]


def _dedupe_and_stream(
    records: list[dict[str, Any]], visitor_id: str, state_next: Any, now: float
) -> tuple[list[Mapping[str, Any]], Any, list[Any]]:
    """Claim each event id (distinct in ``records``) once and append the new records to the stream; store
    ``state_next`` (unless None) as the visitor's feature state when every record was new.

    Returns the new records, the visitor's cached feature state as read before that, and the value of each
    listener's key (None where there is none).
    """
    client = redis_default()
    script = client.register_script(DEDUPE_AND_STREAM)
    keys = [
        *events_seen_keys(visitor_id, now),
        *[cache.make_key(key(visitor_id)) for _, key in _listeners],
        cache.make_key(features_key(visitor_id)),
        setting("EVENT_STREAM_KEY"),
    ]
    pending: list[Mapping[str, Any]] = list(records)
    first = None
    while pending:
        ids = "".join(record["id"] for record in pending)
        if len(ids) != ID_LENGTH * len(pending):
            raise ValueError("an event id is not a UUID's canonical text")
        flags, *read = script(
            keys=keys,
            args=[
                setting("EVENT_DEDUPE_SECONDS"),
                setting("FEATURES_TTL_SECONDS"),
                b"" if state_next is None or first is not None else cache.client.encode(state_next),
                ids,
                _stream_json.encode(pending),
            ],
        )
        first = first or read  # what the first call read: the state before this batch
        if all(flags):
            break  # appended
        # Some were retried: nothing was appended; the new ones go again on their own (a concurrent
        # retry may claim some meanwhile, so each pass leaves fewer, and the loop ends).
        pending = [record for record, new in zip(pending, flags, strict=True) if new]
    state, *values = first or [None] * (1 + len(_listeners))
    decoded = [None if value is None else cache.client.decode(value) for value in values]
    return pending, None if state is None else cache.client.decode(state), decoded


def _persist_direct(records: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    try:
        return event_records_persist(records)
    except DatabaseError as exc:
        raise IngestUnavailableError(str(exc)) from exc


def events_ingest(
    raw_events: DecodedBatch | Sequence[Any],
    *,
    visitor_id: str,
    is_bot: bool = False,
    ip_prefix: str = "",
    now: float | None = None,
    cached: Mapping[str, Any] | None = None,
) -> IngestResult:
    """Validate a batch (decoded from the body, or Python objects from in-process callers) and store the good events.

    ``cached``: the entries of ``ingest_read_along``'s keys the caller read (None when absent); others are read here.
    """
    now = time.time() if now is None else now
    cached = cached or {}
    batch = raw_events if isinstance(raw_events, DecodedBatch) else events_batch_convert(raw_events)
    accepted, rejected = events_validate(batch, visitor_id, now, cached)
    result = IngestResult(rejected=rejected)
    if not accepted:
        return result
    records = [
        {**event, "visitor_id": visitor_id, "received_at": now, "is_bot": is_bot, "ip_prefix": ip_prefix}
        for event in accepted
    ]
    # Duplicates inside one batch are the client's retry bug, not new events.
    unique = list({r["id"]: r for r in records}.values())
    fresh: list[Mapping[str, Any]]
    state: Any = cached.get(features_key(visitor_id), UNREAD)
    listened: list[Any] = [UNREAD] * len(_listeners)
    features_stored = False
    if setting("EVENT_INGEST_BACKEND") == "redis":
        # The state with every record folded in, stored by the script when none was a duplicate (the usual case);
        # otherwise only the new ones are folded below. Folding changes the state, so it is read again then.
        state_next = None if state is UNREAD or is_bot else features_state_next(visitor_id, unique, state)
        # Never lose an accepted event: with the stream down, write the batch directly.
        with outage_guard("redis", "event stream unavailable; writing events directly") as outage:
            fresh, state, listened = _dedupe_and_stream(unique, visitor_id, state_next, now)
            features_stored = state_next is not None and len(fresh) == len(unique)
        if outage.failed:
            fresh, state = _persist_direct(unique), UNREAD
    else:
        fresh = _persist_direct(unique)
    result.accepted = len(fresh)
    result.duplicates = len(records) - len(fresh)
    if fresh and not is_bot:
        if not features_stored:
            visitor_features_apply(visitor_id, fresh, state=state)
        for (listener, _), value in zip(_listeners, listened, strict=True):
            listener(visitor_id, fresh, value)
    return result
