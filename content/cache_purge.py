"""Publishing a slot purges the pages that place it from the site's frontend cache.

A page cached whole by a CDN or a reverse proxy (the cache-friendly mode) holds the slot's default variant, so a
publish or unpublish of the slot makes it stale. When the site configured Wagtail's frontend-cache invalidation
(``WAGTAILFRONTENDCACHE``: Cloudflare, CloudFront, Azure, Varnish/nginx over HTTP PURGE, ...), the live pages whose
StreamFields place the slot (a ``SlotBlock`` with its key) are purged through ``PurgeBatch``, once the publish has
committed. A slot placed from a template (``{% personalize "key" %}``) is not found this way, so the pages that
rendered a slot's marker are also remembered by URL (``slot_url_seen``) for as long as a shared cache may keep
them (``CACHE_FRIENDLY_SHARED_MAX_AGE`` after their last render), and purged with the rest. With Redis as the cache they are a hash per
slot (URL to expiry, so two processes adding URLs at once lose neither); elsewhere a dict in the cache entry.
Each process remembers what it has written, so a page rendered again writes nothing until half that time has
passed. At most ``SEEN_URLS_MAX`` URLs are kept per slot (a hostile query string could mint any number), and a
URL longer than ``SEEN_URL_MAX_LENGTH`` is not kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from wagtail import blocks
from wagtail.fields import StreamField
from wagtail.models import Page, get_page_models

from tracking.conf import setting
from tracking.outages import outage_guard
from tracking.redis_connection import redis_default_or_none

from .blocks import SlotBlock

logger = logging.getLogger(__name__)

SEEN_URLS_MAX = 500
SEEN_URL_MAX_LENGTH = 2048
_SEEN_LOCAL_MAX = 10_000

_seen_lock = threading.Lock()
_seen_written: dict[tuple[str, str], float] = {}  # (slot key, URL) -> when this process last wrote it (monotonic)


def frontend_cache_configured() -> bool:
    from wagtail.contrib.frontend_cache.utils import get_backends

    return bool(get_backends())


def _places_slots(block: blocks.Block) -> bool:
    if isinstance(block, SlotBlock):
        return True
    return any(_places_slots(child) for child in getattr(block, "child_blocks", {}).values()) or (
        isinstance(block, blocks.ListBlock) and _places_slots(block.child_block)
    )


def _slot_fields(model: type[Page]) -> list[str]:
    return [
        field.name
        for field in model._meta.get_fields(include_parents=False)
        if isinstance(field, StreamField) and _places_slots(field.stream_block)
    ]


def _slot_keys(value: Any, block: blocks.Block) -> Iterator[str]:
    """The slot keys a stream, struct or list value places, at any depth."""
    if isinstance(block, SlotBlock):
        yield value
    elif isinstance(value, blocks.StreamValue):
        for child in value:
            yield from _slot_keys(child.value, child.block)
    elif isinstance(value, blocks.StructValue):
        for name, child_block in block.child_blocks.items():
            yield from _slot_keys(value.get(name), child_block)
    elif isinstance(value, blocks.list_block.ListValue):
        for item in value.bound_blocks:
            yield from _slot_keys(item.value, item.block)


def slot_pages(slot_key: str) -> list[Page]:
    """The live pages whose StreamFields place the slot ``slot_key``.

    The JSON text search narrows each page type to the pages that mention the key; the walk then keeps only those
    that place it in a SlotBlock (not, say, a headline that happens to be the same word).
    """
    found: list[Page] = []
    for model in get_page_models():
        fields = _slot_fields(model)
        if not fields:
            continue
        mention = Q()
        for name in fields:
            mention |= Q(**{f"{name}__icontains": f'"{slot_key}"'})
        for page in model.objects.live().filter(mention):
            if any(
                slot_key in _slot_keys(getattr(page, name), model._meta.get_field(name).stream_block) for name in fields
            ):
                found.append(page)
    return found


def seen_urls_key(slot_key: str) -> str:
    return f"tailor:slot-urls:{slot_key}"


def slot_url_seen(slot_key: str, url: str) -> None:
    """A page at ``url`` rendered the slot's marker for a shared cache: purge it too when the slot is published."""
    if len(url) > SEEN_URL_MAX_LENGTH:
        return
    lifetime = float(setting("CACHE_FRIENDLY_SHARED_MAX_AGE"))
    now = time.monotonic()
    with _seen_lock:
        written = _seen_written.get((slot_key, url))
        if written is not None and now - written < lifetime / 2:
            return
        if len(_seen_written) >= _SEEN_LOCAL_MAX:
            _seen_written.clear()
        _seen_written[(slot_key, url)] = now
    # A render skipped above (within half the lifetime of this write) may start a cached copy that lives a whole
    # lifetime after it: remembered for one and a half.
    keep = lifetime * 1.5
    expires = time.time() + keep
    key = seen_urls_key(slot_key)
    with outage_guard("cache", "page URL not remembered for purging; it may stay cached until it expires"):
        client = redis_default_or_none()
        if client is not None:
            if client.hlen(key) < SEEN_URLS_MAX or client.hexists(key, url):
                pipe = client.pipeline(transaction=False)
                pipe.hset(key, url, expires)
                pipe.expire(key, int(keep) + 1)
                pipe.execute()
            return
        seen = {u: at for u, at in (cache.get(key) or {}).items() if at > time.time()}
        if len(seen) < SEEN_URLS_MAX or url in seen:
            seen[url] = expires
            cache.set(key, seen, timeout=int(keep) + 1)


def slot_urls_seen(slot_key: str) -> list[str]:
    """The URLs that rendered the slot's marker and that a shared cache may still hold, expired ones forgotten."""
    key = seen_urls_key(slot_key)
    now = time.time()
    with outage_guard("cache", "remembered page URLs not read; purging the pages that place the slot only"):
        client = redis_default_or_none()
        if client is not None:
            entries = {u.decode(errors="replace"): float(at) for u, at in client.hgetall(key).items()}
            if expired := [u for u, at in entries.items() if at <= now]:
                client.hdel(key, *expired)
        else:
            entries = dict(cache.get(key) or {})
        return sorted(u for u, at in entries.items() if at > now)
    return []


def slot_pages_purge(slot_key: str) -> list[Page]:
    """Purge the pages that place ``slot_key``, and the URLs that rendered it, from every configured frontend
    cache; the pages purged (found by their StreamFields)."""
    if not frontend_cache_configured():
        return []
    from wagtail.contrib.frontend_cache.utils import PurgeBatch

    pages = slot_pages(slot_key)
    urls = slot_urls_seen(slot_key)
    if pages or urls:
        batch = PurgeBatch()
        batch.add_pages(pages)
        batch.add_urls(urls)
        batch.purge()
        logger.info(
            "Slot %r published: purged %d page(s) and %d remembered URL(s) from the frontend cache.",
            slot_key,
            len(pages),
            len(urls),
        )
    return pages


def slot_published_purge(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``published``/``unpublished`` receiver for Slot: purge its pages once the change is committed."""
    key = instance.key
    transaction.on_commit(lambda: slot_pages_purge(key))
