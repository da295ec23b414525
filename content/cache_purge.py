"""Publishing a slot purges the pages that place it from the site's frontend cache.

A page cached whole by a CDN or a reverse proxy (the cache-friendly mode) holds the slot's default variant, so a
publish or unpublish of the slot makes it stale. When the site configured Wagtail's frontend-cache invalidation
(``WAGTAILFRONTENDCACHE``: Cloudflare, CloudFront, Azure, Varnish/nginx over HTTP PURGE, ...), the live pages whose
StreamFields place the slot (a ``SlotBlock`` with its key) are purged through ``PurgeBatch``, once the publish has
committed. A slot placed from a template (``{% personalize "key" %}``) is not found this way: purge those pages
with Wagtail's ``PurgeBatch`` from a ``published`` receiver of your own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import Q
from wagtail import blocks
from wagtail.fields import StreamField
from wagtail.models import Page, get_page_models

from .blocks import SlotBlock

logger = logging.getLogger(__name__)


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


def slot_pages_purge(slot_key: str) -> list[Page]:
    """Purge the pages that place ``slot_key`` from every configured frontend cache; the pages purged."""
    if not frontend_cache_configured():
        return []
    from wagtail.contrib.frontend_cache.utils import PurgeBatch

    pages = slot_pages(slot_key)
    if pages:
        batch = PurgeBatch()
        batch.add_pages(pages)
        batch.purge()
        logger.info("Slot %r published: purged %d page(s) from the frontend cache.", slot_key, len(pages))
    return pages


def slot_published_purge(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``published``/``unpublished`` receiver for Slot: purge its pages once the change is committed."""
    key = instance.key
    transaction.on_commit(lambda: slot_pages_purge(key))
