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
