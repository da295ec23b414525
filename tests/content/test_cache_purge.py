"""Publishing a slot purges the pages that place it, through Wagtail's frontend cache, from a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from content.models import Slot
from tests.factories.slots import page_with_slots, slot_create

pytestmark = pytest.mark.django_db


class PurgeRecorder(BaseHTTPRequestHandler):
    """A cache's purge endpoint: records every request's method, path and Host, answers 200."""

    received: list[tuple[str, str, str]]

    def do_PURGE(self) -> None:  # noqa: N802 - the HTTP method's name
        self.server.received.append((self.command, self.path, self.headers.get("Host", "")))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def purge_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PurgeRecorder)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def frontend_cache(settings, purge_server):
    settings.WAGTAILFRONTENDCACHE = {
        "proxy": {
            "BACKEND": "wagtail.contrib.frontend_cache.backends.HTTPBackend",
            "LOCATION": f"http://127.0.0.1:{purge_server.server_port}",
        }
    }
    return purge_server


def republish(key: str) -> None:
    slot = Slot.objects.get(key=key)
    slot.save_revision().publish()


def test_publishing_a_slot_purges_the_pages_that_place_it_and_no_other(
    frontend_cache, django_capture_on_commit_callbacks
):
    slot_create("hero")
    slot_create("footer-offer")
    page_with_slots("hero", "footer-offer", slug="shop")
    page_with_slots("hero", slug="about")
    page_with_slots("footer-offer", slug="pricing")
    page_with_slots(slug="hero")  # a page whose slug is the key, placing no slot
    frontend_cache.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        republish("hero")
    assert sorted(path for _, path, _ in frontend_cache.received) == ["/about/", "/shop/"]
    assert {method for method, _, _ in frontend_cache.received} == {"PURGE"}
    assert {host for _, _, host in frontend_cache.received} == {"localhost"}  # the page's own site


def test_unpublishing_a_slot_purges_its_pages(frontend_cache, django_capture_on_commit_callbacks):
    slot_create("hero")
    page_with_slots("hero", slug="shop")
    frontend_cache.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        Slot.objects.get(key="hero").unpublish()
    assert [path for _, path, _ in frontend_cache.received] == ["/shop/"]


def test_nothing_is_purged_without_a_configured_frontend_cache(purge_server, django_capture_on_commit_callbacks):
    slot_create("hero")
    page_with_slots("hero", slug="shop")
    with django_capture_on_commit_callbacks(execute=True):
        republish("hero")
    assert purge_server.received == []


@pytest.fixture
def cache_friendly(settings, monkeypatch):
    from content import cache_purge

    settings.TAILOR = {**settings.TAILOR, "CACHE_FRIENDLY": True}
    monkeypatch.setattr(cache_purge, "_seen_written", {})  # what this process wrote: none yet


def render_marker(path: str, key: str = "hero") -> str:
    from django.template import Context, Template
    from django.test import RequestFactory

    from tracking.middleware import request_tailor

    request = RequestFactory().get(path)
    request_tailor(request)
    return Template('{% load personalization %}{% personalize "' + key + '" %}').render(Context({"request": request}))


def test_a_slot_placed_by_a_template_is_purged_at_the_urls_that_rendered_it(
    frontend_cache, cache_friendly, django_capture_on_commit_callbacks
):
    slot_create("hero")
    slot_create("other")
    assert 'data-tailor-slot="hero"' in render_marker("/landing/?from=ad")
    render_marker("/landing/?from=ad")
    render_marker("/about/", key="other")
    frontend_cache.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        republish("hero")
    assert [(path, host) for _, path, host in frontend_cache.received] == [("/landing/?from=ad", "testserver")]


def test_a_remembered_url_is_forgotten_once_a_shared_cache_has_let_it_go(
    frontend_cache, cache_friendly, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from content import cache_purge

    class Clock:
        now = 1_000_000.0

        def time(self) -> float:
            return self.now

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(cache_purge, "time", clock)
    settings.TAILOR = {**settings.TAILOR, "CACHE_FRIENDLY_SHARED_MAX_AGE": 600}
    slot_create("hero")
    render_marker("/old/")
    clock.now += 200
    render_marker("/old/")  # a cached copy from now lives to 800 s: within what the first write covers (900 s)
    clock.now += 200
    render_marker("/recent/")
    clock.now += 550  # 950 s after /old/ was written: no cached copy can be left
    frontend_cache.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        republish("hero")
    assert [path for _, path, _ in frontend_cache.received] == ["/recent/"]


def test_at_most_so_many_urls_are_kept_per_slot_and_none_too_long(cache_friendly, monkeypatch):
    from content import cache_purge

    monkeypatch.setattr(cache_purge, "SEEN_URLS_MAX", 3)
    slot_create("hero")
    render_marker("/" + "x" * cache_purge.SEEN_URL_MAX_LENGTH)
    for n in range(5):
        render_marker(f"/page-{n}/")
    assert cache_purge.slot_urls_seen("hero") == [f"http://testserver/page-{n}/" for n in range(3)]
