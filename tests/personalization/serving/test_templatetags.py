"""{% personalize %} renders the visitor's variant, exposes it with ``as``, and fails quietly and visibly."""

from __future__ import annotations

import logging

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from tracking.middleware import request_tailor

pytestmark = pytest.mark.django_db


def render(source: str, request=None) -> str:
    request = request or RequestFactory().get("/")
    request_tailor(request)
    return Template("{% load personalization %}" + source).render(Context({"request": request}))


def test_personalize_renders_the_chosen_variant_with_its_decision_id(demo):
    html = render('{% personalize "home-hero" %}')
    assert 'data-tailor-slot="home-hero"' in html
    assert 'data-tailor-variant="hero-default"' in html
    assert "data-tailor-decision=" in html
    assert "Hello there, meet Tailor" in html


def test_personalize_as_exposes_the_choice(demo):
    html = render('{% personalize "home-hero" as choice %}[{{ choice.key }}|{{ choice.params.cta_label }}]{{ choice }}')
    assert html.startswith('[hero-default|See the product]<div class="tailor-slot')


def test_rules_follow_the_request(demo):
    request = RequestFactory().get("/?utm_source=newsletter")
    assert 'data-tailor-variant="hero-newsletter"' in render('{% personalize "home-hero" %}', request)


def test_unknown_slot_renders_nothing_and_warns(demo, settings, caplog):
    settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="personalization.serving.render"):
        assert render('{% personalize "missing" %}') == ""
    assert "missing" in caplog.text


def test_unknown_slot_in_debug_leaves_a_comment(demo, settings):
    settings.DEBUG = True
    html = render('{% personalize "miss--ing<x>" %}')
    assert html.startswith("<!-- tailor: slot")
    assert "no published slot" in html
    assert "<x>" not in html
    assert "--" not in html[4:-3]


def test_empty_slot_renders_nothing(db, settings):
    from tests.factories.slots import slot_create

    settings.DEBUG = False
    slot_create("all-paused", variants=[("a", 1)], paused=("a",))
    assert render('{% personalize "all-paused" %}') == ""


def test_decisions_in_a_request_are_written_once_after_the_response(client, demo, django_assert_max_num_queries):
    from tracking.models import DecisionLog

    client.get("/")
    assert DecisionLog.objects.count() == 2
