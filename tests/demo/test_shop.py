"""The demo shop: pages a visitor can walk (home, shop, product, basket, about), pictures, real goals, named revisions."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import DESKTOP

pytestmark = pytest.mark.django_db


@pytest.fixture
def visitor():
    return Client(HTTP_USER_AGENT=DESKTOP)


def test_seed_demo_is_idempotent_and_every_seeded_revision_is_by_the_demo_admin(demo):
    from wagtail.models import Page, Revision

    from content.models import Slot
    from demo.seed import demo_seed
    from tracking.models import Goal

    assert demo_seed().created == []  # a second run adds nothing
    revisions = Revision.objects.all()
    assert revisions.exists()
    assert {r.user.username if r.user else None for r in revisions} == {"admin"}  # never "by None"
    for model in (Slot, Goal):
        for obj in model.objects.all():
            assert obj.latest_revision.user.username == "admin", obj
    assert Page.objects.filter(depth__gt=1).count() == Page.objects.filter(depth__gt=1, live=True).count()


def test_the_home_page_has_a_centred_hero_with_a_picture_and_the_shop_lists_every_shirt(demo, visitor):
    home = visitor.get("/").content.decode()
    hero = home[home.index('data-tailor-slot="home-hero"') :]
    hero = hero[: hero.index("</section>")]
    assert "Hello there, meet Tailor" in hero
    assert re.search(r'<img class="hero-image" src="/media/images/hero-shirts[^"]*" alt="Three shirts', hero)
    assert home.count('class="product-grid"') == 1
    shop = visitor.get("/shop/").content.decode()
    for title in ("The Oxford shirt", "The linen shirt", "The flannel shirt", "The denim shirt"):
        assert title in shop
    assert visitor.get("/about/").status_code == 200


def test_the_product_page_names_its_product_once_and_add_to_basket_fills_the_basket(demo, visitor):
    product = visitor.get("/product/").content.decode()
    assert product.count("The Oxford shirt") == 2  # the <title> and the <h1>: the offer card no longer repeats it
    assert "Tailor Pro" not in product
    form = re.search(r'<form class="add-to-basket" method="post" action="([^"]+)" data-tailor-goal="basket">', product)
    assert form
    assert form.group(1) == "/basket/"
    product_id = re.search(r'name="add" value="(\d+)"', product).group(1)

    assert "Your basket is empty" in visitor.get("/basket/").content.decode()
    added = visitor.post("/basket/", {"add": product_id})
    assert added.status_code == 302
    assert added["Location"] == "/basket/"
    visitor.post("/basket/", {"add": product_id})
    visitor.post("/basket/", {"add": "999999"})  # no such product: ignored
    basket = visitor.get("/basket/").content.decode()
    assert re.search(r"The Oxford shirt</a></td>\s*<td>2</td>\s*<td>€98.00</td>", basket)
    assert 'data-tailor-goal="order-placed"' in basket

    ordered = visitor.post("/basket/", {"checkout": "1"})
    assert ordered["Location"] == "/basket/?ordered=1"
    thanks = visitor.get(ordered["Location"]).content.decode()
    assert "your order is placed" in thanks
    assert "<table" not in thanks


def test_the_basket_goal_is_a_real_conversion_with_its_value(demo):
    import uuid

    from tracking.event_ingest import events_ingest
    from tracking.models import Event, Goal

    goal = Goal.objects.get(key="basket")
    assert goal.live
    assert goal.is_active
    assert goal.kind == "event"
    visitor_id = str(uuid.uuid4())
    events_ingest(
        [{"id": str(uuid.uuid4()), "type": "conversion", "props": {"goal": "basket"}, "ts": _now_ms()}],
        visitor_id=visitor_id,
    )
    assert list(Event.objects.filter(visitor_id=visitor_id).values_list("props__goal", "value")) == [("basket", 49.0)]


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@pytest.mark.parametrize(("first_name", "expected"), [("Ann", "Welcome back, Ann!"), ("", "Welcome back!")])
def test_the_welcome_back_hero_reads_right_with_and_without_a_name(demo, first_name, expected):
    from content.models import Slot
    from content.rendering import params_from_block_value, template_render

    variant = Slot.objects.get(key="home-hero").variants.get(key="hero-welcome-back")
    html = template_render("hero", params_from_block_value(variant.params[0].value), {"visitor.first_name": first_name})
    assert f"<h1>{expected}</h1>" in html


def test_seed_demo_hero_strategy_switches_an_existing_hero_and_keeps_its_targeting(demo):
    from io import StringIO

    from django.core.management import call_command

    from content.models import Slot

    out = StringIO()
    call_command("seed_demo", "--hero-strategy", "model", stdout=out)
    assert "Published home-hero on the 'model' strategy (it was on 'rules')." in out.getvalue()
    hero = Slot.objects.get(key="home-hero")
    assert (hero.strategy, len(hero.rules), hero.latest_revision.user.username) == ("model", 3, "admin")
    call_command("seed_demo", stdout=(out := StringIO()))
    assert Slot.objects.get(key="home-hero").strategy == "model"  # without the flag, an editor's choice stays
    assert "Published" not in out.getvalue()
