"""Writing the decision log.

``decision_records_write`` is how the decision path records what it showed, through
a sink (``tracking.decision_sinks``): inside a request the records are queued on
``request.tailor`` and written once, after the response is built. With the ``redis`` backend (production) the batch is one
RPUSH to a buffer that ``decisions_flush`` bulk-writes from a worker, so
serving a page adds no database write; the ``direct`` backend (embedded
default) writes the batch straight away. If Redis is down, records are written
directly rather than lost. Either way a record the database refuses never blocks
the others: it is set aside in the dead-letter table with the reason, and counted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction

from .conf import setting
from .dead_letters import Refused, dead_letters_put, records_write_isolating, refusal_reason
from .decision_owners import decision_owner_key, decision_owners_forget, decision_owners_remember
from .event_ingest import events_seen_forget
from .models import DeadLetter, DecisionLog, Visitor
from .outages import outage_guard
from .record_hooks import decisions_recorded
from .redis_batch import RedisBatch
from .redis_connection import redis_cache_or_none, redis_default
from .visitor_cache import visitor_cache_keys

DecisionRecord = dict[str, Any]


def decision_records_write(records: Sequence[DecisionRecord]) -> None:
    if not records:
        return
    decision_owners_remember({r["id"]: r["visitor_id"] for r in records if r.get("visitor_id")})
    if setting("DECISION_LOG_BACKEND") == "redis":
        _records_buffer(records)
    else:
        decision_records_persist(records)
    decisions_recorded(records)


CacheEntries = dict[str, tuple[Any, int]]  # cache key -> (value, timeout in seconds)


def request_writes_flush(
    records: Sequence[DecisionRecord],
    cache_entries: Mapping[str, tuple[Any, int]],
    *,
    after_response: Callable[[Callable[[], None]], None],
) -> None:
    """Write what a request leaves once its response is built: its decisions and cache entries (the visit count).

    The cache entries and the decisions' owners are written before the response leaves, so
    that an event for a decision on the page is attributed as soon as the page arrives. With
    the ``redis`` backend they and the buffer's RPUSH are one ``RedisBatch``: one round trip
    per page, not one per write. With the ``direct`` backend the database write is handed to
    ``after_response`` (run once the response is sent: the visitor does not wait for it),
    unless the owners could not be cached; then ingest reads them from the database, which
    must hold the rows before the page arrives.
    """
    owners_timeout = setting("MAX_EVENT_AGE_SECONDS")
    entries = dict(cache_entries)
    entries.update(
        {decision_owner_key(r["id"]): (r["visitor_id"], owners_timeout) for r in records if r.get("visitor_id")}
    )
    backend = setting("DECISION_LOG_BACKEND")
    redis_cache = redis_cache_or_none() if backend == "redis" else None
    if redis_cache is not None:
        with outage_guard("redis", "decision buffer unavailable; writing decisions directly") as outage:
            batch = RedisBatch(redis_default())
            client = redis_cache.client  # django-redis's: its key prefix and value encoding, as cache.get reads them
            for key, (value, timeout) in entries.items():
                batch.execute_command("SET", client.make_key(key), client.encode(value), "EX", int(timeout))
            if records:
                batch.execute_command(
                    "RPUSH", setting("DECISION_BUFFER_KEY"), *[json.dumps(r, separators=(",", ":")) for r in records]
                )
                decisions_recorded(records, batch)  # the bandit's trial counts, in the same round trip
            batch.execute()
        if outage.failed:
            decision_records_persist(records)
        return
    with outage_guard(
        "cache", "visit count and decision owners not cached; ingest looks owners up in the database"
    ) as cached:
        by_timeout: dict[int, dict[str, Any]] = {}
        for key, (value, timeout) in entries.items():
            by_timeout.setdefault(timeout, {})[key] = value
        for timeout, values in by_timeout.items():
            cache.set_many(values, timeout=timeout)
    if not records:
        return
    decisions_recorded(records)
    if backend == "redis":
        _records_buffer(records)
    elif cached.failed:
        decision_records_persist(records)
    else:
        after_response(lambda: _records_persist_late(records))


def _records_persist_late(records: Sequence[DecisionRecord]) -> None:
    # after_response takes a callable returning None; the count is of no use once the response is sent.
    decision_records_persist(records)


def _records_buffer(records: Sequence[DecisionRecord]) -> None:
    with outage_guard("redis", "decision buffer unavailable; writing decisions directly") as outage:
        redis_default().rpush(setting("DECISION_BUFFER_KEY"), *[json.dumps(r, separators=(",", ":")) for r in records])
    if outage.failed:
        decision_records_persist(records)


def _timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def decision_records_persist(records: Iterable[DecisionRecord]) -> int:
    """Bulk-write decisions and upsert their visitors; idempotent on decision id.

    A record the database refuses is dead-lettered (kind "decision") with the reason and the
    rest are written. Returns how many were written.
    """
    written, _ = decision_records_write_isolating(list(records))
    return len(written)


def decision_records_write_isolating(
    records: Sequence[Mapping[str, Any]], *, dead_letter: bool = True
) -> tuple[list[Mapping[str, Any]], Refused]:
    return records_write_isolating(_records_write, records, kind=DeadLetter.Kind.DECISION, dead_letter=dead_letter)


def _records_write(records: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    rows = []
    visitors: dict[str, dict[str, Any]] = {}
    for r in records:
        created = _timestamp(r["ts"])
        rows.append(
            DecisionLog(
                id=uuid.UUID(r["id"]),
                created_at=created,
                visitor_id=r.get("visitor_id") or None,
                slot_key=r["slot_key"],
                variant_key=r["variant_key"],
                revision_id=r.get("revision_id"),
                policy=r["policy"],
                policy_version=r["policy_version"],
                propensity=r["propensity"],
                reason=r.get("reason", "")[:100],
                context=r.get("context") or {},
                is_bot=bool(r.get("is_bot")),
            )
        )
        if r.get("visitor_id"):
            seen = visitors.setdefault(r["visitor_id"], {"last_seen_at": created, "visit_count": 1, "user_id": None})
            seen["last_seen_at"] = max(seen["last_seen_at"], created)
            seen["visit_count"] = max(seen["visit_count"], int(r.get("visit_count") or 1))
            seen["user_id"] = r.get("user_id") or seen["user_id"]
    _users_forget_deleted(visitors)
    DecisionLog.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    _visitors_upsert(visitors)
    return records


def _users_forget_deleted(visitors: dict[str, dict[str, Any]]) -> None:
    """Drop links to users deleted while their decisions waited in the buffer.

    Foreign keys are checked at commit, where no savepoint can set one record aside: a
    link to a deleted user would fail the whole batch at every flush.
    """
    user_ids = {v["user_id"] for v in visitors.values() if v["user_id"]}
    if not user_ids:
        return
    existing = set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    for seen in visitors.values():
        if seen["user_id"] not in existing:
            seen["user_id"] = None


def _visitors_upsert(visitors: dict[str, dict[str, Any]]) -> None:
    # In id order: two writers upserting overlapping visitors in different orders lock rows in
    # different orders, and PostgreSQL breaks the cycle by failing one of them (deadlock detected).
    ordered = sorted(((uuid.UUID(k), v) for k, v in visitors.items()), key=lambda item: item[0])
    with_user = [Visitor(id=k, **v) for k, v in ordered if v["user_id"]]
    anonymous = [
        Visitor(id=k, last_seen_at=v["last_seen_at"], visit_count=v["visit_count"])
        for k, v in ordered
        if not v["user_id"]
    ]
    for objs, fields in (
        (with_user, ["last_seen_at", "visit_count", "user"]),
        (anonymous, ["last_seen_at", "visit_count"]),
    ):
        if objs:
            Visitor.objects.bulk_create(
                objs, update_conflicts=True, unique_fields=["id"], update_fields=fields, batch_size=500
            )


def decisions_flush(*, max_batches: int = 50) -> int:
    """Move buffered decisions from Redis to the database; returns how many were written.

    Reads a batch, commits it, and only then trims it from the buffer, so a
    worker killed mid-batch leaves the batch to be written again; the write is
    idempotent on decision id, so nothing is doubled. A lock keeps two
    flushers from trimming each other's batches.
    """
    client = redis_default()
    key = setting("DECISION_BUFFER_KEY")
    batch = setting("DECISION_FLUSH_BATCH")
    written = 0
    lock = client.lock(f"{key}:lock", timeout=120, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return 0
    try:
        for _ in range(max_batches):
            raw = client.lrange(key, 0, batch - 1)
            if not raw:
                break
            records, unreadable = [], []
            for item in raw:
                try:
                    records.append(json.loads(item))
                except ValueError as exc:
                    unreadable.append(({"raw": item.decode("utf-8", "backslashreplace")}, refusal_reason(exc)))
            dead_letters_put("decision", unreadable)
            written += decision_records_persist(records)
            client.ltrim(key, len(raw), -1)
    finally:
        lock.release()
    return written


def visitor_erase(visitor_id: str) -> dict[str, int]:
    """Erase a visitor: events, consent, features, dead letters and the visitor row go; decisions stay, anonymised.

    Decisions are kept without the visitor id so that statistics over what was
    shown stay unbiased.
    """
    from .models import Consent, Event

    vid = uuid.UUID(visitor_id)
    with transaction.atomic():
        decision_ids = [d.hex for d in DecisionLog.objects.filter(visitor_id=vid).values_list("id", flat=True)]
        events = Event.objects.filter(visitor_id=vid).delete()[0]
        decisions = DecisionLog.objects.filter(visitor_id=vid).update(visitor_id=None, context={})
        consent = Consent.objects.filter(visitor_id=vid).delete()[0]
        visitors = Visitor.objects.filter(id=vid).delete()[0]
        # A dead letter is a whole record: erased, not replayed after the erasure.
        dead_letters = DeadLetter.objects.filter(visitor_id=vid).delete()[0]
    decision_owners_forget(decision_ids)  # else new events could link the anonymised decisions back
    with outage_guard("cache", "an erased visitor's cache entries not deleted; they expire on their own"):
        cache.delete_many(visitor_cache_keys([str(vid)]))
    events_seen_forget(str(vid))
    return {
        "events": events,
        "decisions_anonymised": decisions,
        "consent": consent,
        "visitors": visitors,
        "dead_letters": dead_letters,
    }


def events_purge(*, older_than_days: int, batch_size: int = 10_000) -> int:
    """Delete events older than the retention period, in bounded batches."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import Event

    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(ts__lt=cutoff).values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += Event.objects.filter(id__in=ids).delete()[0]


def retention_purge(*, older_than_days: int, batch_size: int = 10_000) -> dict[str, int]:
    """Enforce the retention period on every store, in bounded batches; returns what was done, by kind.

    Events older than the period are deleted. Decisions keep what was shown, with its propensity (so
    statistics over what was shown stay unbiased), but lose their visitor id and context, as an
    erasure leaves them. Visitors not seen since (no decision, event or consent choice within the
    period) are deleted with their cache entries and their consent record, and so is the consent record
    of a visitor who was never seen after making it; a consent record that refuses analytics or
    personalization is kept, so the refusal holds when the visitor returns. Dead letters past the
    period go too: they hold the records they could not store.
    """
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(days=older_than_days)
    counts = {"events": events_purge(older_than_days=older_than_days, batch_size=batch_size)}
    counts["decisions_anonymised"] = _decisions_anonymise(cutoff, batch_size)
    counts["visitors"], counts["consent"] = _visitors_expire(cutoff, batch_size)
    counts["dead_letters"] = _dead_letters_expire(cutoff, batch_size)
    return counts


def _decisions_anonymise(cutoff: datetime, batch_size: int) -> int:
    expired = DecisionLog.objects.filter(created_at__lt=cutoff).exclude(visitor_id=None)
    done = 0
    while ids := list(expired.values_list("id", flat=True)[:batch_size]):
        done += DecisionLog.objects.filter(id__in=ids).update(visitor_id=None, context={})
        decision_owners_forget([i.hex for i in ids])
    return done


def _visitors_expire(cutoff: datetime, batch_size: int) -> tuple[int, int]:
    """Delete visitors (and consent records without a visitor) not seen since ``cutoff``.

    A record that refuses something stays: it is all that keeps a returning headless visitor (who
    has no consent cookie) from being tracked again. It holds the id and two booleans, nothing else.
    """
    from django.db.models import Exists, OuterRef

    from .models import Consent, Event

    agreed = Consent.objects.filter(analytics=True, personalization=True)

    def seen_since(field: str) -> tuple[Exists, Exists]:
        return (
            Exists(Event.objects.filter(visitor_id=OuterRef(field), ts__gte=cutoff)),
            Exists(Consent.objects.filter(visitor_id=OuterRef(field), updated_at__gte=cutoff)),
        )

    events_since, choice_since = seen_since("id")
    stale = Visitor.objects.filter(last_seen_at__lt=cutoff).exclude(events_since).exclude(choice_since)
    visitors = consent = 0
    while ids := list(stale.values_list("id", flat=True)[:batch_size]):
        with transaction.atomic():
            consent += agreed.filter(visitor_id__in=ids).delete()[0]
            visitors += Visitor.objects.filter(id__in=ids).delete()[0]
        _visitor_cache_forget(ids)
    events_since, _ = seen_since("visitor_id")
    orphans = (
        agreed.filter(updated_at__lt=cutoff)
        .exclude(Exists(Visitor.objects.filter(id=OuterRef("visitor_id"))))
        .exclude(events_since)
    )
    while ids := list(orphans.values_list("visitor_id", flat=True)[:batch_size]):
        consent += agreed.filter(visitor_id__in=ids).delete()[0]
        _visitor_cache_forget(ids)
    return visitors, consent


def _visitor_cache_forget(visitor_ids: Sequence[uuid.UUID]) -> None:
    keys = visitor_cache_keys([str(vid) for vid in visitor_ids])
    with outage_guard("cache", "expired visitors' cache entries not deleted; they expire on their own"):
        cache.delete_many(keys)


def _dead_letters_expire(cutoff: datetime, batch_size: int) -> int:
    from .models import DeadLetter

    done = 0
    while ids := list(DeadLetter.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch_size]):
        done += DeadLetter.objects.filter(id__in=ids).delete()[0]
    return done


def goal_publish(*, user: Any = None, **fields: Any) -> Any:
    """Create (or update, by ``key``) and publish a goal from code, through a logged revision as the admin does.

    ``fields``: ``key``, ``name``, ``kind``, ``match`` and optionally ``value``, ``site_value``, ``is_active``;
    checked as the admin form checks them (``ValidationError`` naming the field). ``user``: who the
    revision is by in the history.
    """
    from .models import Goal

    goal = Goal.objects.filter(key=fields["key"]).first() or Goal(live=False)
    for name, value in fields.items():
        setattr(goal, name, value)
    goal.full_clean()
    goal.save()
    goal.save_revision(user=user, log_action=True).publish(user=user)
    goal.refresh_from_db()
    return goal
