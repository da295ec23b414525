"""Published goal definitions, as the tracker and ingest read them: built once per publish, kept in the cache.

A ``GoalBook`` holds every published, active goal: the page and click goals the tracker must watch
for (the JSON body of ``GET /api/v1/goals/``, with a version that is the hash of that body, so an
unchanged list keeps its ETag), and each goal's value for ingest. It is stored in the cache under
a generation that publishing, unpublishing, saving or deleting a goal replaces (at once, and
again after commit, so no process keeps a list built from uncommitted rows); each process also
keeps the book of the generation it last read, so a read costs one cache round trip. With the
cache down the book is built from the database, which holds a handful of rows.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches

from .conf import setting
from .outages import outage_guard

GENERATION_KEY = "tailor:goals-generation"
BOOK_KEY = "tailor:goals-book"


@dataclass(frozen=True)
class GoalBook:
    version: str
    body: bytes  # {"version", "goals": [{"key", "kind", "match"}]}: the page and click goals, for the tracker
    values: dict[str, tuple[float | None, bool]] = field(default_factory=dict)  # key -> (value, site may send one)


def goal_book_build() -> GoalBook:
    """The book from the database: published (the row is the published state), active goals."""
    from .models import Goal

    rows = list(
        Goal.objects.filter(live=True, is_active=True)
        .order_by("key")
        .values_list("key", "kind", "match", "value", "site_value")
    )
    watched = [{"key": k, "kind": kind, "match": match} for k, kind, match, _, _ in rows if kind != Goal.Kind.EVENT]
    listed = json.dumps(watched, separators=(",", ":"), ensure_ascii=False)
    version = hashlib.sha256(listed.encode()).hexdigest()[:16]
    body = json.dumps({"version": version, "goals": watched}, separators=(",", ":")).encode()
    return GoalBook(version=version, body=body, values={k: (value, site) for k, _, _, value, site in rows})


def _cache() -> Any:
    return caches[setting("GOALS_CACHE")]


_lock = threading.Lock()
_local: dict[str, GoalBook] = {}  # at most one entry: the generation this process last read


def goal_book_get() -> GoalBook:
    """The current book: this process's copy while the shared generation is unchanged, else the cache's."""
    with outage_guard("cache", "goal definitions not read from the cache; built from the database"):
        cache = _cache()
        generation = cache.get(GENERATION_KEY)
        if generation is None:
            cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            generation = cache.get(GENERATION_KEY)
        book = _local.get(generation) if generation else None
        if book is not None:
            return book
        stored = cache.get(f"{BOOK_KEY}:{generation}") if generation else None
        if stored is None:
            book = goal_book_build()
            if generation:
                cache.set(f"{BOOK_KEY}:{generation}", (book.version, book.body, book.values), timeout=86400)
        else:
            book = GoalBook(*stored)
        if generation:
            with _lock:
                _local.clear()
                _local[generation] = book
        return book
    return goal_book_build()


def goals_invalidate() -> None:
    """Every process reads a new generation, and builds the book for it once."""
    with _lock:
        _local.clear()
    with outage_guard("cache", "goal definitions not invalidated; processes keep their copy until it expires"):
        _cache().set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def goals_changed(**kwargs: Any) -> None:
    """A goal changed in the current transaction: invalidate now (this process sees its own writes) and after commit."""
    from django.db import transaction

    goals_invalidate()
    transaction.on_commit(goals_invalidate)


def goals_signals_connect() -> None:
    from django.db.models.signals import post_delete, post_save
    from wagtail.signals import published, unpublished

    from .models import Goal

    published.connect(goals_changed, sender=Goal, dispatch_uid="tailor-goal-published")
    unpublished.connect(goals_changed, sender=Goal, dispatch_uid="tailor-goal-unpublished")
    # A saved draft leaves the published row alone, but code (or a shell) may write the row itself.
    post_save.connect(goals_changed, sender=Goal, dispatch_uid="tailor-goal-saved")
    post_delete.connect(goals_changed, sender=Goal, dispatch_uid="tailor-goal-deleted")
