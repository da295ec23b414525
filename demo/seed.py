"""Demo content: pages, slots and segments that show Tailor working, created idempotently.

``seed_demo`` calls ``demo_seed``; re-running it keeps what exists (and any
edits made in the admin) and only adds what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from wagtail.models import Page, Site

from content.models import Slot
from content.services import slot_publish
from demo.models import ContentPage, HomePage, ProductPage
from personalization.models import Segment
from tracking.models import Goal
from tracking.services import goal_publish

DEMO_USERNAME = "admin"


def _hero(headline: str, body: str, cta: str, badge: str = "", position: str = "default") -> list[dict[str, Any]]:
    return [
        {
            "type": "hero",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "cta_label": cta,
                "cta_url": "/product/",
                "image": None,
                "badge": badge,
                "position": position,
            },
        }
    ]


def _banner(headline: str, body: str, cta: str, badge: str = "") -> list[dict[str, Any]]:
    return [
        {
            "type": "cta_banner",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "cta_label": cta,
                "cta_url": "/product/",
                "badge": badge,
                "position": "default",
            },
        }
    ]


def _card(headline: str, body: str, badge: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "product_card",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "image": None,
                "badge": badge,
                "cta_label": "Add to basket",
                "cta_url": "/product/",
                "position": "default",
            },
        }
    ]


SEGMENTS = [
    ("mobile-visitors", "Mobile visitors", "all", [{"type": "device", "value": {"devices": ["mobile", "tablet"]}}]),
    (
        "newsletter-traffic",
        "Newsletter traffic",
        "any",
        [
            {"type": "utm", "value": {"param": "source", "operator": "equals", "value": "newsletter"}},
            {"type": "referrer", "value": {"host": "", "pattern": "*newsletter*"}},
        ],
    ),
    ("returning-visitors", "Returning visitors", "all", [{"type": "returning", "value": {"returning": True}}]),
]

SLOTS: list[dict[str, Any]] = [
    {
        "key": "home-hero",
        "name": "Home hero",
        "description": "The first thing visitors see on the home page; the model learns which variant suits whom.",
        # The targeting table is kept for editors who switch the slot to rules (seed_demo --hero-strategy rules).
        "strategy": "model",
        "default_variant": "hero-default",
        "variants": [
            (
                "hero-default",
                "Default",
                1,
                _hero(
                    "Hello {visitor.first_name|there}, meet Tailor",
                    "Content that fits every visitor.",
                    "See the product",
                ),
            ),
            (
                "hero-mobile",
                "Mobile: short and thumb-friendly",
                1,
                _hero("Tailor, in your pocket", "Fast on every screen.", "Tap to see", position="top"),
            ),
            (
                "hero-newsletter",
                "Newsletter readers",
                1,
                _hero(
                    "Welcome, newsletter reader", "Your subscriber discount is waiting.", "Claim 15% off", badge="-15%"
                ),
            ),
            (
                "hero-welcome-back",
                "Returning visitors",
                1,
                _hero(
                    "Welcome back{visitor.first_name|}!", "Pick up where you left off.", "Continue", position="right"
                ),
            ),
        ],
        "rules": [
            ("newsletter-traffic", "hero-newsletter"),
            ("mobile-visitors", "hero-mobile"),
            ("returning-visitors", "hero-welcome-back"),
        ],
    },
    {
        "key": "cta-banner",
        "name": "Call-to-action banner",
        "description": "A banner below the hero; split-tested.",
        "strategy": "split",
        "default_variant": "banner-trial",
        "variants": [
            (
                "banner-trial",
                "Free trial",
                1,
                _banner("Try Tailor free for 30 days", "No card needed.", "Start free trial"),
            ),
            (
                "banner-demo",
                "Book a demo",
                1,
                _banner("See Tailor on your own site", "A 20-minute walkthrough.", "Book a demo", badge="New"),
            ),
        ],
        "rules": [],
    },
    {
        "key": "product-offer",
        "name": "Product offer",
        "description": "The offer card on the product page.",
        "strategy": "fixed",
        "default_variant": "offer-standard",
        "variants": [
            ("offer-standard", "Standard price", 1, _card("Tailor Pro", "Everything in one plan.", "")),
            ("offer-discount", "Discount", 1, _card("Tailor Pro, now 20% off", "For a limited time.", "-20%")),
        ],
        "rules": [],
    },
]


@dataclass
class DemoResult:
    username: str
    password: str
    created: list[str] = field(default_factory=list)


def _segment_ensure(key: str, name: str, match: str, rules: list[dict[str, Any]], result: DemoResult) -> Segment:
    segment = Segment.objects.filter(key=key).first()
    if segment is None:
        segment = Segment.objects.create(key=key, name=name, match=match, rules=rules)
        result.created.append(f"segment {key}")
    return segment


def _page_ensure(parent: Page, page: Page, result: DemoResult) -> Page:
    existing = parent.get_children().filter(slug=page.slug).first()
    if existing is not None:
        return existing.specific
    parent.add_child(instance=page)
    page.save_revision().publish()
    result.created.append(f"page {page.url_path}")
    return page


def _root_create() -> Page:
    """Wagtail's migrations make the tree root; recreate it if the database was flushed since."""
    from django.conf import settings
    from wagtail.models import Locale

    locale, _ = Locale.objects.get_or_create(language_code=settings.LANGUAGE_CODE)
    return Page.add_root(instance=Page(title="Root", slug="root", locale=locale, live=True))


def _home_ensure(result: DemoResult) -> HomePage:
    home = HomePage.objects.first()
    if home is not None:
        return home
    root = Page.get_first_root_node() or _root_create()
    home = HomePage(
        title="Welcome to Tailor",
        slug="tailor-home",
        body=[
            {"type": "slot", "value": "home-hero"},
            {"type": "paragraph", "value": "<p>Every visitor sees the variant of each slot chosen for them.</p>"},
            {"type": "slot", "value": "cta-banner"},
        ],
    )
    root.add_child(instance=home)
    home.save_revision().publish()
    site = Site.objects.filter(is_default_site=True).first()
    old_root = site.root_page if site else None
    if site is None:
        Site.objects.create(hostname="localhost", root_page=home, is_default_site=True, site_name="Tailor demo")
    else:
        site.root_page = home
        site.site_name = "Tailor demo"
        site.save()
    if old_root is not None and old_root.pk != home.pk and old_root.depth == 2 and not old_root.get_children().exists():
        old_root.delete()  # Wagtail's "Welcome" placeholder page
    result.created.append("home page")
    return home


STATIC_BENCH_BODY = [
    {"type": "static_hero", "value": SLOTS[0]["variants"][0][3][0]["value"]},
    {"type": "static_cta_banner", "value": SLOTS[1]["variants"][0][3][0]["value"]},
    {"type": "static_product_card", "value": SLOTS[2]["variants"][0][3][0]["value"]},
]
PERSONALIZED_BENCH_BODY = [
    {"type": "slot", "value": "home-hero"},
    {"type": "slot", "value": "cta-banner"},
    {"type": "slot", "value": "product-offer"},
]


HERO_STRATEGIES = ("model", "rules")


@transaction.atomic
def demo_slots_ensure(keys: Sequence[str] | None = None, *, hero_strategy: str = "model") -> list[str]:
    """Create the demo's slots (all, or those in ``keys``) and the segments they target; what was created.

    No pages and no user: the simulation uses this to get its slot into any database.
    """
    if hero_strategy not in HERO_STRATEGIES:
        raise ValueError(f"hero_strategy must be one of {', '.join(HERO_STRATEGIES)}, got {hero_strategy!r}.")
    result = DemoResult(username=DEMO_USERNAME, password="")
    segments = {key: _segment_ensure(key, name, match, rules, result) for key, name, match, rules in SEGMENTS}
    for spec in SLOTS:
        if (keys is None or spec["key"] in keys) and not Slot.objects.filter(key=spec["key"]).exists():
            if spec["key"] == "home-hero":
                spec = {**spec, "strategy": hero_strategy}
            slot_publish(spec, {key: segment.pk for key, segment in segments.items()})
            result.created.append(f"slot {spec['key']}")
    return result.created


# The demo's conversion: a visitor who reaches the product page (what the hero's call to action leads to).
GOAL_KEY = "product-page"
GOAL_VALUE = 49.0


def demo_goals_ensure() -> list[str]:
    """Publish the demo's goal when missing; an editor's later changes to it are kept."""
    if Goal.objects.filter(key=GOAL_KEY).exists():
        return []
    goal_publish(key=GOAL_KEY, name="Reached the product page", kind="page", match="/product/*", value=GOAL_VALUE)
    return [f"goal {GOAL_KEY}"]


@transaction.atomic
def demo_seed(hero_strategy: str = "model") -> DemoResult:
    """Seed the demo; ``hero_strategy`` "rules" serves home-hero by its targeting table instead of the model."""
    password = os.environ.get("TAILOR_DEMO_PASSWORD", "tailor-demo")
    result = DemoResult(username=DEMO_USERNAME, password=password)
    user_model = get_user_model()
    if not user_model.objects.filter(username=DEMO_USERNAME).exists():
        user_model.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
        result.created.append("admin user")
    result.created += demo_slots_ensure(hero_strategy=hero_strategy)
    result.created += demo_goals_ensure()
    home = _home_ensure(result)
    _page_ensure(
        home,
        ProductPage(
            title="Tailor Pro",
            slug="product",
            price="49.00",
            body=[
                {"type": "slot", "value": "product-offer"},
                {"type": "paragraph", "value": "<p>Micro-personalization for Wagtail.</p>"},
                {"type": "slot", "value": "cta-banner"},
            ],
        ),
        result,
    )
    bench = _page_ensure(home, ContentPage(title="Benchmarks", slug="bench", body=[]), result)
    _page_ensure(bench, ContentPage(title="Static", slug="static", body=STATIC_BENCH_BODY), result)
    _page_ensure(bench, ContentPage(title="Personalized", slug="personalized", body=PERSONALIZED_BENCH_BODY), result)
    return result
