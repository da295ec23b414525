"""Factories for slots, variants and segments, built through the same publish path editors use."""

from __future__ import annotations

from typing import Any

from content.services import slot_publish
from personalization.models import Segment


def hero_params(headline: str, **extra: Any) -> list[dict[str, Any]]:
    value = {
        "headline": headline,
        "body": "<p>Body</p>",
        "cta_label": "Go",
        "cta_url": "/go/",
        "image": None,
        "badge": "",
        "position": "default",
    }
    value.update(extra)
    return [{"type": "hero", "value": value}]


def segment_create(key: str, rules: list[dict[str, Any]], match: str = "all") -> Segment:
    return Segment.objects.create(key=key, name=key.replace("-", " ").title(), match=match, rules=rules)


def slot_create(
    key: str = "test-slot",
    *,
    strategy: str = "fixed",
    variants: list[tuple[str, int]] | None = None,
    default: str = "",
    rules: list[tuple[str, str]] | None = None,
    segments: dict[str, Segment] | None = None,
    paused: tuple[str, ...] = (),
    holdout: float = 0.0,
):
    variants = variants or [("a", 1), ("b", 1)]
    slot = slot_publish(
        {
            "key": key,
            "name": key.title(),
            "strategy": strategy,
            "default_variant": default,
            "variants": [
                (vkey, f"Variant {vkey}", weight, hero_params(f"Headline {vkey}"), vkey in paused)
                for vkey, weight in variants
            ],
            "rules": rules or [],
            "holdout_share": holdout,
        },
        {key: segment.pk for key, segment in (segments or {}).items()},
    )
    return slot


def page_with_slots(*keys: str, slug: str = "slot-page"):
    """A published content page under the default site's home, placing the given slots."""
    from wagtail.models import Site

    from demo.models import ContentPage

    home = Site.objects.get(is_default_site=True).root_page
    page = ContentPage(title=slug.title(), slug=slug, body=[{"type": "slot", "value": key} for key in keys])
    home.add_child(instance=page)
    page.save_revision().publish()
    return page
