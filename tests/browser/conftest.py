"""Browser-test plumbing: the system Chromium, demo data for the live server, and failure reports."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 10_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def wagtail_initial_data() -> None:
    """Recreate what Wagtail's data migrations insert (locale, root page, root collection).

    ``transaction=True`` tests end with a flush that removes migration data too,
    and ``demo_seed()`` needs the root page. (``serialized_rollback=True`` would
    also do, but serializing every model at database set-up is slow and breaks
    whenever a model's table is not migrated yet.)
    """
    from django.conf import settings
    from wagtail.coreutils import get_supported_content_language_variant
    from wagtail.models import Collection, Locale, Page

    Locale.objects.get_or_create(language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE))
    if Page.get_first_root_node() is None:
        Page.add_root(instance=Page(title="Root", slug="root"))
    if Collection.get_first_root_node() is None:
        Collection.add_root(name="Root")


class RequestsInFlight:
    """Counts the live server's requests through Django's request signals (they fire in its threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0
        self.last_change = time.monotonic()

    def started(self, **kwargs) -> None:
        with self._lock:
            self.open += 1
            self.last_change = time.monotonic()

    def finished(self, **kwargs) -> None:
        with self._lock:
            self.open = max(0, self.open - 1)
            self.last_change = time.monotonic()

    def wait_idle(self, quiet: float = 1.0, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.open == 0 and time.monotonic() - self.last_change >= quiet:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the live server still had {self.open} request(s) open after {timeout} s")


@pytest.fixture
def live_server_settled(live_server, transactional_db):
    """Hold the database flush until the live server has answered everything the browser sent.

    A closing page's ``sendBeacon`` can reach the server after the test body ends; served during
    the flush, it finds the database locked or gone. Set up after ``transactional_db``, so torn
    down (and waiting) before it.
    """
    from django.core.signals import request_finished, request_started

    in_flight = RequestsInFlight()
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    try:
        yield live_server
        in_flight.wait_idle()
    finally:
        request_started.disconnect(in_flight.started)
        request_finished.disconnect(in_flight.finished)


@pytest.fixture
def seeded(live_server_settled, browser):
    """Demo data in the live server's database (``browser`` first: ORM calls need its env flag)."""
    from demo.seed import demo_seed

    wagtail_initial_data()
    return demo_seed(hero_strategy="rules")


@pytest.fixture
def admin_page(browser, live_server, seeded, request):
    """A logged-in admin tab (downloads allowed); on failure its HTML and a screenshot are kept in ``artifacts/``."""
    import re

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill(seeded.username)
    page.get_by_label("Password").fill(seeded.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{request.node.name}-failure.html").write_text(page.content())
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
