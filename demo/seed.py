"""Demo content: pages, slots and segments that show Tailor working, created idempotently.

``seed_demo`` calls ``demo_seed``; re-running it keeps what exists (and any
edits made in the admin) and only adds what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from wagtail.models import Page, Site

from content.models import STRATEGY_CHOICES as SLOT_STRATEGY_CHOICES
from content.models import Slot
from content.services import slot_publish
from demo.models import BasketPage, ContentPage, HomePage, ProductPage, ShopPage
from personalization.models import Segment
from tracking.models import Goal
from tracking.services import goal_publish

DEMO_USERNAME = "admin"
IMAGES_DIR = Path(__file__).resolve().parent / "images"  # drawn by devtools/demo_images.py, committed
# The demo's pictures, loaded into Wagtail's image library: file -> (title, description used as alt text).
IMAGES = {
    "hero-shirts.png": ("Shirts on a rail", "Three shirts on hangers: blue Oxford, sand linen, red flannel"),
    "hero-phone.png": ("Shirt on a phone", "A phone showing a shirt and an Add to basket button"),
    "hero-newsletter.png": ("Newsletter offer", "An envelope with a 15 % off badge"),
    "hero-welcome-back.png": ("Your size, remembered", "A blue shirt with a tape measure across it"),
    "oxford-shirt.png": ("Oxford shirt", "A light blue Oxford shirt"),
    "linen-shirt.png": ("Linen shirt", "A sand-coloured linen shirt"),
    "flannel-shirt.png": ("Flannel shirt", "A red checked flannel shirt"),
    "denim-shirt.png": ("Denim shirt", "A dark blue denim shirt"),
}


def _hero(
    headline: str, body: str, cta: str, badge: str = "", position: str = "default", image: str | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "type": "hero",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "cta_label": cta,
                "cta_url": "/product/",
                "image": image,  # a file in IMAGES, resolved to the Wagtail image's id when the slot is created
                "badge": badge,
                "position": position,
            },
        }
    ]


def _banner(headline: str, body: str, cta: str, badge: str = "", url: str = "/about/") -> list[dict[str, Any]]:
    return [
        {
            "type": "cta_banner",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "cta_label": cta,
                "cta_url": url,
                "badge": badge,
                "position": "default",
            },
        }
    ]


def _card(headline: str, body: str, badge: str, cta: str = "", url: str = "") -> list[dict[str, Any]]:
    return [
        {
            "type": "product_card",
            "value": {
                "headline": headline,
                "body": f"<p>{body}</p>",
                "image": None,
                "badge": badge,
                "cta_label": cta,
                "cta_url": url,
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
        # Thompson sampling per kind of visitor, each variant floored at 1 % (0.04 / 4 variants): on the
        # simulator's hard world it is the exploration that reaches the oracle (bench/RESULTS.md).
        "exploration": "thompson",
        "exploration_rate": 0.04,
        "retrain_every": 250,
        "default_variant": "hero-default",
        "variants": [
            (
                "hero-default",
                "Default",
                1,
                _hero(
                    "Hello {visitor.first_name|there}, meet Tailor",
                    "Shirts made to your measure, sewn to order and at your door in a week.",
                    "See the product",
                    image="hero-shirts.png",
                ),
            ),
            (
                "hero-mobile",
                "Mobile: short and thumb-friendly",
                1,
                _hero(
                    "Tailor, in your pocket",
                    "Save your size once, then order a new shirt in two taps.",
                    "Tap to see",
                    position="top",
                    image="hero-phone.png",
                ),
            ),
            (
                "hero-newsletter",
                "Newsletter readers",
                1,
                _hero(
                    "Welcome, newsletter reader",
                    "Your subscriber discount is waiting: 15 % off your first made-to-measure shirt.",
                    "Claim 15% off",
                    badge="-15%",
                    image="hero-newsletter.png",
                ),
            ),
            (
                "hero-welcome-back",
                "Returning visitors",
                1,
                _hero(
                    "Welcome back{, visitor.first_name|}!",
                    "We kept your measurements: your next shirt is a click away.",
                    "Continue",
                    position="left",
                    image="hero-welcome-back.png",
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
                _banner(
                    "Not quite right? Alterations are free for 30 days",
                    "Wear it, wash it: if the fit is off, we adjust it at no cost.",
                    "How it works",
                ),
            ),
            (
                "banner-demo",
                "Book a demo",
                1,
                _banner(
                    "Book a fitting with a tailor",
                    "A 20-minute video call: we take your measurements with you.",
                    "Book a fitting",
                    badge="New",
                ),
            ),
        ],
        "rules": [],
    },
    {
        "key": "product-offer",
        "name": "Product offer",
        "description": "The offer card under a product's Add to basket button.",
        "strategy": "fixed",
        "default_variant": "offer-standard",
        "variants": [
            (
                "offer-standard",
                "Standard price",
                1,
                _card("Free delivery and alterations", "Every shirt ships free; we adjust the fit for 30 days.", ""),
            ),
            (
                "offer-discount",
                "Discount",
                1,
                _card(
                    "20% off your second shirt", "Add two to your basket this week.", "-20%", "See all shirts", "/shop/"
                ),
            ),
        ],
        "rules": [],
    },
]


@dataclass
class DemoResult:
    username: str
    password: str
    created: list[str] = field(default_factory=list)


def _demo_user() -> Any:
    """The demo admin, who seeded revisions are by (else the admin's history says "by None"); None if absent."""
    return get_user_model().objects.filter(username=DEMO_USERNAME).first()


def _segment_ensure(key: str, name: str, match: str, rules: list[dict[str, Any]], result: DemoResult) -> Segment:
    segment = Segment.objects.filter(key=key).first()
    if segment is None:
        segment = Segment.objects.create(key=key, name=name, match=match, rules=rules)
        result.created.append(f"segment {key}")
    return segment


def demo_images_ensure(result: DemoResult | None = None) -> dict[str, Any]:
    """The demo's pictures in Wagtail's image library (found again by title), keyed by file name."""
    from django.core.files.images import ImageFile
    from wagtail.images import get_image_model

    image_model = get_image_model()
    images = {}
    for name, (title, description) in IMAGES.items():
        image = image_model.objects.filter(title=title).first()
        if image is None:
            with (IMAGES_DIR / name).open("rb") as file:
                image = image_model(title=title, description=description)
                image.file.save(name, ImageFile(file, name=name), save=False)
                image.save()
            if result is not None:
                result.created.append(f"image {name}")
        images[name] = image
    return images


def _images_resolve(spec: dict[str, Any], images: dict[str, Any]) -> dict[str, Any]:
    """The spec with each variant's image file name replaced by that image's id (None without images)."""
    variants = []
    for key, name, weight, params, *rest in spec["variants"]:
        resolved = []
        for block in params:
            value = dict(block["value"])
            if isinstance(value.get("image"), str):
                image = images.get(value["image"])
                value["image"] = image.pk if image is not None else None
            resolved.append({**block, "value": value})
        variants.append((key, name, weight, resolved, *rest))
    return {**spec, "variants": variants}


def _page_ensure(parent: Page, page: Page, result: DemoResult, user: Any = None) -> Page:
    existing = parent.get_children().filter(slug=page.slug).first()
    if existing is not None:
        return existing.specific
    parent.add_child(instance=page)
    page.save_revision(user=user).publish(user=user)
    result.created.append(f"page {page.url_path}")
    return page


def _root_create() -> Page:
    """Wagtail's migrations make the tree root; recreate it if the database was flushed since."""
    from django.conf import settings
    from wagtail.models import Locale

    locale, _ = Locale.objects.get_or_create(language_code=settings.LANGUAGE_CODE)
    return Page.add_root(instance=Page(title="Root", slug="root", locale=locale, live=True))


HOME_BODY = [
    {"type": "slot", "value": "home-hero"},
    {"type": "heading", "value": "Made for you, not for a size chart"},
    {
        "type": "paragraph",
        "value": (
            "<p>Tell us four measurements, pick a cloth, and we cut and sew your shirt to order. "
            "Every visitor sees the variant of each personalized block chosen for them: the hero above "
            "and the banner below are <b>Tailor</b> slots.</p>"
        ),
    },
    {"type": "slot", "value": "cta-banner"},
]


def _home_ensure(result: DemoResult, user: Any = None) -> HomePage:
    home = HomePage.objects.first()
    if home is not None:
        return home
    root = Page.get_first_root_node() or _root_create()
    home = HomePage(title="Welcome to Tailor", slug="tailor-home", body=HOME_BODY)
    root.add_child(instance=home)
    home.save_revision(user=user).publish(user=user)
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


def _static(block: dict[str, Any]) -> dict[str, Any]:
    # No image on the benchmark's static page: a static block looks its rendition up on every request,
    # where a slot's is resolved once at publish, and the baseline would pay for a query the slot does not.
    return {**block["value"], "image": None} if "image" in block["value"] else block["value"]


STATIC_BENCH_BODY = [
    {"type": "static_hero", "value": _static(SLOTS[0]["variants"][0][3][0])},
    {"type": "static_cta_banner", "value": _static(SLOTS[1]["variants"][0][3][0])},
    {"type": "static_product_card", "value": _static(SLOTS[2]["variants"][0][3][0])},
]
PERSONALIZED_BENCH_BODY = [
    {"type": "slot", "value": "home-hero"},
    {"type": "slot", "value": "cta-banner"},
    {"type": "slot", "value": "product-offer"},
]


HERO_STRATEGIES = ("model", "rules")  # seed_demo --hero-strategy
STRATEGIES = tuple(key for key, _ in SLOT_STRATEGY_CHOICES)


@transaction.atomic
def demo_slots_ensure(
    keys: Sequence[str] | None = None, *, hero_strategy: str = "model", images: dict[str, Any] | None = None
) -> list[str]:
    """Create the demo's slots (all, or those in ``keys``) and the segments they target; what was created.

    No pages, no user and, unless ``images`` are given, no pictures: the simulation uses this to get its
    slot into any database. Revisions are by the demo admin when there is one.
    """
    if hero_strategy not in HERO_STRATEGIES:
        raise ValueError(f"hero_strategy must be one of {', '.join(HERO_STRATEGIES)}, got {hero_strategy!r}.")
    result = DemoResult(username=DEMO_USERNAME, password="")
    segments = {key: _segment_ensure(key, name, match, rules, result) for key, name, match, rules in SEGMENTS}
    user = _demo_user()
    for spec in SLOTS:
        if (keys is None or spec["key"] in keys) and not Slot.objects.filter(key=spec["key"]).exists():
            if spec["key"] == "home-hero":
                spec = {**spec, "strategy": hero_strategy}
            slot_publish(_images_resolve(spec, images or {}), {k: s.pk for k, s in segments.items()}, user=user)
            result.created.append(f"slot {spec['key']}")
    return result.created


def demo_hero_strategy_set(strategy: str) -> str | None:
    """Publish the demo's hero on ``strategy`` (a new revision by the demo admin); the strategy it left, or None.

    Variants and the targeting table are kept, so switching back and forth loses nothing. A hero with an
    unpublished draft is refused (``ValueError``): publishing would serve the editor's draft with it.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}.")
    slot = Slot.objects.get(key="home-hero")
    if slot.strategy == strategy and slot.live:
        return None
    if slot.has_unpublished_changes:
        raise ValueError(
            "home-hero has unpublished changes: publish or discard its draft in the admin "
            "(Slots → Home hero), then run this again."
        )
    previous, slot.strategy = slot.strategy, strategy
    user = _demo_user()
    slot.save_revision(user=user, log_action=True).publish(user=user)
    return previous


# The demo's conversions: adding a shirt to the basket (the form's data-tailor-goal), and placing the order.
GOAL_KEY = "basket"
GOAL_VALUE = 49.0
GOALS = (
    {"key": GOAL_KEY, "name": "Added a shirt to the basket", "kind": "event", "match": "", "value": GOAL_VALUE},
    {"key": "order-placed", "name": "Placed an order", "kind": "event", "match": "", "value": 98.0},
)


def demo_goals_ensure() -> list[str]:
    """Publish the demo's goals when missing; an editor's later changes to them are kept."""
    created = []
    for goal in GOALS:
        if not Goal.objects.filter(key=goal["key"]).exists():
            goal_publish(**goal, user=_demo_user())
            created.append(f"goal {goal['key']}")
    return created


PRODUCTS = (
    # slug, title, price, image, summary, description
    (
        "product",
        "The Oxford shirt",
        "49.00",
        "oxford-shirt.png",
        "Our everyday shirt in a soft, hard-wearing light blue Oxford cloth, cut to your measurements.",
        "Button-down collar, a chest pocket and mother-of-pearl buttons. Machine wash at 40 °C.",
    ),
    (
        "linen-shirt",
        "The linen shirt",
        "59.00",
        "linen-shirt.png",
        "Cool, airy Portuguese linen in sand, for the warmest days of the year.",
        "A relaxed camp collar and a straight hem to wear untucked. Gets softer with every wash.",
    ),
    (
        "flannel-shirt",
        "The flannel shirt",
        "69.00",
        "flannel-shirt.png",
        "A brushed cotton flannel in red check: warm enough for an autumn walk.",
        "Two flap pockets, a longer back hem and horn-effect buttons.",
    ),
    (
        "denim-shirt",
        "The denim shirt",
        "65.00",
        "denim-shirt.png",
        "Dark blue selvedge denim that fades with you.",
        "Western yoke, snap buttons, and a fit you chose yourself.",
    ),
)


def _product_body(description: str) -> list[dict[str, Any]]:
    return [{"type": "slot", "value": "product-offer"}, {"type": "paragraph", "value": f"<p>{description}</p>"}]


ABOUT_BODY = [
    {
        "type": "paragraph",
        "value": (
            "<p>Tailor is a small workshop that makes shirts to measure: you send four measurements, "
            "we cut the cloth for you and sew it to order. If the fit is not right, alterations are free "
            "for 30 days.</p>"
            "<p>This shop is the demo site of <b>Tailor</b>, micro-personalization for Wagtail. The home "
            "page's hero, the banner under it and the offer on each product page are personalized slots: "
            "log in to the admin to see how they choose, and what visitors did with them.</p>"
        ),
    },
    {"type": "slot", "value": "cta-banner"},
]


@transaction.atomic
def demo_seed(hero_strategy: str = "model") -> DemoResult:
    """Seed the demo; ``hero_strategy`` "rules" serves home-hero by its targeting table instead of the model."""
    password = os.environ.get("TAILOR_DEMO_PASSWORD", "tailor-demo")
    result = DemoResult(username=DEMO_USERNAME, password=password)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = user_model.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
        result.created.append("admin user")
    images = demo_images_ensure(result)
    result.created += demo_slots_ensure(hero_strategy=hero_strategy, images=images)
    result.created += demo_goals_ensure()
    home = _home_ensure(result, user)
    shop = _page_ensure(
        home,
        ShopPage(
            title="Shop",
            slug="shop",
            body=[{"type": "paragraph", "value": "<p>Every shirt is cut to your measurements and sewn to order.</p>"}],
        ),
        result,
        user,
    )
    for slug, title, price, image, summary, description in PRODUCTS:
        # The Oxford stays at /product/, where the hero's call to action and the tests lead; the others in the shop.
        _page_ensure(
            home if slug == "product" else shop,
            ProductPage(
                title=title,
                slug=slug,
                price=price,
                summary=summary,
                image=images[image],
                body=_product_body(description),
            ),
            result,
            user,
        )
    _page_ensure(home, BasketPage(title="Your basket", slug="basket", body=[]), result, user)
    _page_ensure(home, ContentPage(title="About Tailor", slug="about", body=ABOUT_BODY), result, user)
    bench = _page_ensure(
        home, ContentPage(title="Benchmarks", slug="bench", body=[], show_in_menus=False), result, user
    )
    _page_ensure(bench, ContentPage(title="Static", slug="static", body=STATIC_BENCH_BODY), result, user)
    _page_ensure(
        bench, ContentPage(title="Personalized", slug="personalized", body=PERSONALIZED_BENCH_BODY), result, user
    )
    return result
