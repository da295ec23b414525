"""The JavaScript tracker: its size, the template tag that loads it, and its behaviour in a real headless Chromium.

Browser tests serve small static pages and tracker.js from a temporary directory with ``http.server`` in a thread,
with fake ``/api/v1/events/``, ``/consent/`` and ``/decisions/`` handlers that record what they receive; not the
Django app, so the tracker is tested against the API contract alone. Playwright's clock is installed and paused, so
impression delays, hover times, flush intervals and retry back-off advance only when a test says so.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template

STATIC = Path(__file__).resolve().parents[2] / "tracking" / "static" / "tracking"
TRACKER = STATIC / "tracker.js"
SOURCE = STATIC / "tracker.src.js"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HERO, SECOND = "a" * 32, "b" * 32
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- size and build


def test_tracker_is_under_4_kb_gzipped():
    assert len(gzip.compress(TRACKER.read_bytes(), compresslevel=9)) < 4096


def test_tracker_is_built_from_its_current_source():
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    first_line = TRACKER.read_text().splitlines()[0]
    assert f"sha256 {digest}" in first_line, "tracker.src.js changed: rebuild tracker.js with the command at its top"


# --------------------------------------------------------------------------- template tag


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _render(rf, source: str) -> str:
    return Template("{% load tracking %}" + source).render(Context({"request": rf.get("/")}))


def _tags(html: str, name: str) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def test_tag_renders_one_async_script_with_its_config(rf, settings):
    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": "required", "RESPECT_DO_NOT_TRACK": False}
    html = _render(rf, "{% tracking_script %}")
    [script] = _tags(html, "script")
    assert "async" in script
    assert script["src"] == "/static/tracking/tracker.js"
    assert json.loads(script["data-tailor-config"] or "") == {
        "endpoint": "/api/v1/events/",
        "decisionsEndpoint": "/api/v1/decisions/",
        "consentEndpoint": "/api/v1/consent/",
        "consent": "required",
        "respectDoNotTrack": False,
    }
    assert "data-tailor-banner" not in html


def test_tag_escapes_the_config(rf, settings):
    hostile = '"><script>alert(1)</script>&'
    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"context": {"attributes": {"campaign": hostile}}}}
    html = _render(rf, "{% tracking_script %}")
    assert html.count("<script") == 1
    assert "<script>alert" not in html
    [script] = _tags(html, "script")
    assert json.loads(script["data-tailor-config"] or "")["context"]["attributes"]["campaign"] == hostile


def test_tag_follows_static_url(rf, settings):
    settings.STATIC_URL = "/assets/"
    [script] = _tags(_render(rf, "{% tracking_script %}"), "script")
    assert script["src"] == "/assets/tracking/tracker.js"


def test_tag_refuses_an_unknown_consent_mode(rf, settings):
    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": "requried"}
    with pytest.raises(ImproperlyConfigured, match="CONSENT_MODE"):
        _render(rf, "{% tracking_script %}")


@pytest.mark.parametrize(("mode", "accept", "reject"), [("implied", "OK", "Opt out"), ("required", "Yes", "No")])
def test_tag_with_banner_adds_a_hidden_banner_with_two_choices(rf, settings, mode, accept, reject):
    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": mode}
    html = _render(rf, "{% tracking_script banner=True %}")
    [section] = _tags(html, "section")
    assert "data-tailor-banner" in section
    assert "hidden" in section  # tracker.js shows it while no choice is stored
    assert [b["data-tailor-consent"] for b in _tags(html, "button")] == ["accept", "reject"]
    assert re.search(rf'data-tailor-consent="accept">{accept}', html)
    assert re.search(rf'data-tailor-consent="reject">{reject}', html)
    parser = _Tags()
    parser.feed(html)
    assert not [name for _, attrs in parser.tags for name in attrs if name.startswith("on")]  # no inline handlers
    assert len(_tags(html, "script")) == 1


# --------------------------------------------------------------------------- fake server


class FakeApi(ThreadingHTTPServer):
    """Static files from ``root`` plus the three API endpoints; everything POSTed is kept in ``posts``."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.posts: list[dict[str, Any]] = []
        self.failing = False  # events answer 503 (Retry-After: 1) while set
        self.changed = threading.Condition()
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, post: dict[str, Any]) -> None:
        with self.changed:
            self.posts.append(post)
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> list[dict[str, Any]]:
        """Block until ``predicate(posts)`` holds (the browser's requests arrive on other threads)."""
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.posts), timeout), f"timed out; received {self.posts}"
            return list(self.posts)

    def events(self, path: str = "/api/v1/events/") -> list[dict[str, Any]]:
        """Every event received, once per id (a beacon may repeat a batch)."""
        seen: dict[str, dict[str, Any]] = {}
        for post in self.posts:
            if post["path"] == path:
                for event in post["body"]["events"]:
                    seen.setdefault(event["id"], event)
        return list(seen.values())

    def page(self, name: str, body: str, config: dict[str, Any] | None = None) -> str:
        script = ""
        if config is not None:
            script = (
                f"<script async src=\"/static/tracking/tracker.js\" data-tailor-config='{json.dumps(config)}'></script>"
            )
        (self.root / name).write_text(
            '<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0} div{box-sizing:border-box}</style>'
            f"</head><body>{body}{script}</body></html>"
        )
        return f"{self.url}/{name}"


class Handler(SimpleHTTPRequestHandler):
    server: FakeApi

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw or b"null")
        path = self.path.split("?")[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.record({"path": path, "body": body, "headers": headers})
        if path == "/api/v1/events/":
            if self.server.failing:
                return self._answer(503, {"detail": "retry"}, {"Retry-After": "1"})
            return self._answer(202, {"accepted": len(body["events"]), "duplicates": 0, "rejected": []})
        if path == "/api/v1/consent/":
            return self._answer(200, body)
        if path == "/api/v1/decisions/":
            # A slot unpublished since the page was cached ("gone-..."): refused by index, as the real API does.
            unknown = {str(i): [f"Unknown slot key {s!r}."] for i, s in enumerate(body["slots"]) if s[:5] == "gone-"}
            if unknown:
                return self._answer(400, {"slots": unknown})
            decisions = [slot_decision(slot) for slot in body["slots"]]
            return self._answer(200, {"visitor_id": "v", "decisions": decisions})
        return self._answer(404, {})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def slot_decision(slot: str) -> dict[str, Any]:
    decision_id = hashlib.md5(slot.encode(), usedforsecurity=False).hexdigest()
    html = (
        f'<div class="tailor-slot" data-tailor-slot="{slot}" data-tailor-variant="{slot}-b" '
        f'data-tailor-decision="{decision_id}" id="{slot}-swapped" style="height:300px">Tailored {slot}</div>'
    )
    return {"slot": slot, "decision_id": decision_id, "variant": {}, "propensity": 1.0, "policy": "fixed", "html": html}


# --------------------------------------------------------------------------- browser fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def api(tmp_path) -> Iterator[FakeApi]:
    (tmp_path / "static" / "tracking").mkdir(parents=True)
    shutil.copy(TRACKER, tmp_path / "static" / "tracking" / "tracker.js")
    (tmp_path / "landing.html").write_text("<!doctype html><title>Landing</title><p>Thanks")
    server = FakeApi(tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# Records what the page hands to the network, to assert on what is *not* sent without waiting for it.
RECORD_CALLS = """
window.__calls = [];
const realFetch = window.fetch;
window.fetch = function (url) {
  const call = {via: "fetch", url: String(url)};
  __calls.push(call);
  // The tracker's own .then runs right after this one, so a settled call has been handled by the tracker too.
  return realFetch.apply(this, arguments).then(r => (call.status = r.status, r), e => { call.status = 0; throw e; });
};
const realBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => { __calls.push({via: "beacon", url: String(url)}); return realBeacon(url, data); };
"""


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.add_init_script(RECORD_CALLS)
    page.clock.install(time=T0)
    page.clock.pause_at(T0 + timedelta(seconds=1))  # from now on, page time moves only with run_for
    yield page
    context.close()


def wait_until_seen(page: Any, selector: str) -> None:
    """Resolve once IntersectionObserver has reported on ``selector`` (after the tracker's own observer)."""
    page.evaluate(
        """sel => new Promise(done => new IntersectionObserver((entries, observer) => {
            observer.disconnect(); done();
        }).observe(document.querySelector(sel)))""",
        selector,
    )


def scroll_to(page: Any, y: int, watch: str) -> None:
    page.evaluate("y => window.scrollTo(0, y)", y)
    wait_until_seen(page, watch)


def calls(page: Any) -> list[dict[str, str]]:
    return [c for c in page.evaluate("window.__calls") if "/api/v1/events/" in c["url"]]


def poll(check: Callable[[], bool], timeout: float = 10) -> None:
    """Wait in short real-time steps for something the browser does off the page clock (network, rendering)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def settled(page: Any, count: int) -> None:
    """Wait until ``count`` event POSTs have been answered and handled by the tracker."""
    poll(lambda: sum("status" in c for c in calls(page)) >= count)


def advance_until(page: Any, api: FakeApi, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
    """Move page time on 100 ms at a time until the fake API has received what ``predicate`` wants."""
    deadline = time.monotonic() + 10
    while True:
        page.clock.run_for(100)
        with api.changed:
            if api.changed.wait_for(lambda: predicate(api.posts), 0.05):
                return
        assert time.monotonic() < deadline, f"timed out; received {api.posts}"


def queued(page: Any) -> list[dict[str, Any]]:
    return json.loads(page.evaluate("sessionStorage.getItem('tailor_q')") or "[]")


TWO_SLOTS = f"""
<div id="hero" class="tailor-slot" data-tailor-slot="home-hero" data-tailor-decision="{HERO}" style="height:300px">
  <h1>Hello</h1><a id="signup" href="/landing.html?email=a%40b.example#top" data-tailor-goal="signup">Sign up</a>
</div>
<form id="newsletter" data-tailor-goal="newsletter" onsubmit="event.preventDefault()" style="height:100px">
  <button>Subscribe</button></form>
<div style="height:1800px"></div>
<div id="second" data-tailor-decision="{SECOND}" style="height:300px">Second</div>
<div style="height:1500px"></div>
"""


# --------------------------------------------------------------------------- browser tests


@pytest.mark.browser
def test_browser_records_what_the_visitor_did_and_sends_it_on_page_hide(api, page):
    page.goto(api.page("two.html", TWO_SLOTS, {"flushInterval": 600_000}))
    wait_until_seen(page, "#hero")
    page.clock.run_for(1100)  # the hero has been fully visible for over a second
    scroll_to(page, 2000, "#second")  # 2000 + 800 of 4000 px: 70 % deep, the second slot fully visible...
    page.clock.run_for(500)  # ...for half a second only
    scroll_to(page, 0, "#hero")
    page.clock.run_for(2000)
    page.mouse.move(200, 100)
    page.clock.run_for(300)
    page.mouse.move(200, 600)  # off the hero, onto the spacer
    page.click("#hero h1")
    page.click("#newsletter button")  # a form with a goal, outside any slot
    page.evaluate("Tailor.track('conversion', {value: 49, plan: 'pro', nested: {dropped: true}})")
    assert api.posts == []  # nothing before the page is hidden: flushInterval is long
    page.click("#signup")  # navigates away: pagehide sends the rest with sendBeacon
    page.wait_for_url("**/landing.html*")

    api.wait_for(lambda posts: any(e["type"] == "dwell" for p in posts for e in p["body"]["events"]))
    assert api.posts[0]["headers"]["content-type"] == "application/json"
    events = api.events()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)

    assert [e["decision_id"] for e in by_type["impression"]] == [HERO]  # the second slot was seen for 0.5 s only
    assert {e.get("decision_id") for e in events} <= {HERO, None}
    assert sorted(e["props"].get("tag") for e in by_type["click"]) == ["a", "h1"]
    assert {e["decision_id"] for e in by_type["click"]} == {HERO}
    [link_click] = [e for e in by_type["click"] if e["props"]["tag"] == "a"]
    assert link_click["props"] == {"href": "/landing.html", "tag": "a"}  # the path only, no query or fragment
    assert [e["value"] for e in by_type["hover"]] == [300]  # the second hover (before a click) was under 100 ms
    assert all(e["decision_id"] == HERO for e in by_type["hover"])
    [scroll] = by_type["scroll"]
    assert scroll["value"] == 70
    assert "decision_id" not in scroll
    page_dwell = [e for e in by_type["dwell"] if "decision_id" not in e]
    hero_dwell = [e for e in by_type["dwell"] if e.get("decision_id") == HERO]
    assert [e["value"] for e in page_dwell] == [pytest.approx(3.9, abs=0.2)]  # seconds the tab was visible
    assert [e["value"] for e in hero_dwell] == [1100 + 2300]  # ms the hero was at least half on screen
    conversions = {e["props"].get("goal", "track"): e for e in by_type["conversion"]}
    assert conversions["track"]["value"] == 49
    assert conversions["track"]["props"] == {"plan": "pro"}
    assert conversions["signup"]["props"] == {"goal": "signup"}
    assert conversions["newsletter"]["props"] == {"goal": "newsletter"}
    assert len(by_type["conversion"]) == 3
    assert "value" not in conversions["signup"]

    ids = [e["id"] for e in events]
    assert all(UUID4.match(i) for i in ids)
    assert len(ids) == len(set(ids)) == sum(len(p["body"]["events"]) for p in api.posts)
    assert all(isinstance(e["ts"], int) and e["ts"] >= T0.timestamp() * 1000 for e in events)


@pytest.mark.browser
def test_browser_retries_with_the_same_ids_and_keeps_the_queue_across_reloads(api, page):
    visitor = "5b1c3f0e-8a4d-4c2b-9e7f-0123456789ab"
    page.add_init_script("delete Crypto.prototype.randomUUID")  # as on plain http: the fallback makes the ids
    url = api.page("retry.html", "<p>No slots here</p>", {"flushInterval": 600_000, "visitorId": visitor})
    page.goto(url)
    api.failing = True
    page.evaluate("['a', 'b', 'c'].forEach(step => Tailor.track('custom', {step}))")
    original = {e["id"] for e in queued(page)}
    assert len(original) == 3
    assert all(UUID4.match(i) for i in original)

    page.evaluate("Tailor.flush()")
    settled(page, 1)  # 503, Retry-After: 1
    page.clock.run_for(999)
    assert len(calls(page)) == 1  # waits out the first second
    page.clock.run_for(1)
    settled(page, 2)  # 503 again: the next wait doubles to 2 s
    page.clock.run_for(1999)
    assert len(calls(page)) == 2
    api.failing = False
    page.clock.run_for(1)
    settled(page, 3)
    assert [c["status"] for c in calls(page)] == [503, 503, 202]
    assert queued(page) == []
    assert [{e["id"] for e in p["body"]["events"]} for p in api.posts] == [original] * 3

    # The server is down when the visitor moves on: the queue survives the reload and is sent from the next page.
    api.failing = True
    page.evaluate("Tailor.track('custom', {step: 'd'})")
    [pending] = [e["id"] for e in queued(page)]
    page.reload()  # the unload keepalive fetch is answered 503 too
    assert pending in {e["id"] for e in queued(page)}
    settled(page, 1)  # the new page sends what the last one left: 503 again
    api.failing = False
    page.clock.run_for(1000)
    settled(page, 2)
    assert queued(page) == []
    later = [p for p in api.posts[3:] if p["path"] == "/api/v1/events/"]
    custom = {e["id"] for p in later for e in p["body"]["events"] if e["type"] == "custom"}
    assert custom == {pending}  # the same id however often it was sent
    assert all(p["headers"]["x-tailor-visitor"] == visitor for p in api.posts)  # fetch, even on unload


@pytest.mark.browser
def test_browser_sends_nothing_under_global_privacy_control(api, page):
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    page.goto(api.page("gpc.html", TWO_SLOTS, {"flushInterval": 100}))
    wait_until_seen(page, "#hero")
    page.clock.run_for(1500)
    page.click("#hero h1")
    page.evaluate("Tailor.track('conversion', {value: 49}); Tailor.flush()")
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    assert calls(page) == []
    assert queued(page) == []  # not even recorded

    # The same visitor on a site that chose to ignore the signal is tracked.
    page.goto(api.page("gpc-ignored.html", TWO_SLOTS, {"flushInterval": 100, "respectDoNotTrack": False}))
    page.evaluate("Tailor.track('conversion', {value: 49})")
    page.clock.run_for(150)
    api.wait_for(lambda posts: len(posts) == 1)
    assert [e["type"] for e in api.events()] == ["conversion"]


@pytest.mark.browser
def test_browser_required_consent_records_nothing_until_the_visitor_agrees(api, page, rf, settings):
    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": "required", "TRACKER_OPTIONS": {"flushInterval": 100}}
    tag = _render(rf, "{% tracking_script banner=True %}")  # the real tag, its banner and its escaping
    page.goto(api.page("required.html", TWO_SLOTS + tag))
    banner = page.locator("[data-tailor-banner]")
    assert banner.is_visible()
    wait_until_seen(page, "#hero")
    page.clock.run_for(1500)
    page.click("#hero h1")
    page.evaluate("Tailor.track('conversion', {value: 1})")
    page.clock.run_for(500)
    assert calls(page) == []
    assert queued(page) == []
    assert api.posts == []

    page.get_by_role("button", name="Yes, tailor it").click()
    [choice] = api.wait_for(lambda posts: len(posts) == 1)
    assert choice["path"] == "/api/v1/consent/"
    assert choice["body"] == {"analytics": True, "personalization": True}
    assert banner.is_hidden()
    page.clock.run_for(1100)  # the hero, still on screen, now makes its impression
    page.evaluate("Tailor.track('conversion', {value: 5})")
    advance_until(page, api, lambda posts: {e["type"] for e in api.events()} >= {"impression", "conversion"})
    assert sorted((e["type"], e.get("value")) for e in api.events()) == [("conversion", 5), ("impression", None)]

    page.reload()
    assert banner.is_hidden()  # the choice is remembered (localStorage), and nothing asks again


@pytest.mark.browser
def test_browser_opting_out_in_implied_mode_stops_sending(api, page, rf):
    nudge = '<div data-tailor-slot="nudge" data-tailor-trigger="dwell:5">Default nudge</div>'
    page.goto(api.page("implied.html", nudge + TWO_SLOTS + _render(rf, "{% tracking_script banner=True %}")))
    page.evaluate("Tailor.track('custom', {before: true})")
    assert len(queued(page)) == 1
    page.get_by_role("button", name="Opt out").click()
    api.wait_for(lambda posts: any(p["path"] == "/api/v1/consent/" for p in posts))
    assert queued(page) == []  # what was pending is forgotten too
    page.evaluate("Tailor.track('custom', {after: true}); Tailor.flush()")
    page.clock.run_for(10_000)
    # No events, and no decision for the triggered slot: the visitor opted out of personalization too.
    # (The goal definitions were asked for on load, before the visitor opted out.)
    assert [c["url"] for c in page.evaluate("window.__calls")] == ["/api/v1/goals/", "/api/v1/consent/"]


@pytest.mark.browser
def test_browser_triggered_slots_swap_in_their_decision_and_are_tracked(api, page):
    body = """
    <div id="promo" class="tailor-slot" data-tailor-slot="promo" data-tailor-trigger="scroll:50" style="height:300px">
      Default promo</div>
    <div id="nudge" class="tailor-slot" data-tailor-slot="nudge" data-tailor-trigger="dwell:10">Default nudge</div>
    <div id="leave" class="tailor-slot" data-tailor-slot="leave" data-tailor-trigger="exit">Default exit offer</div>
    <div style="height:3400px"></div>
    """
    page.goto(api.page("triggers.html", body, {"flushInterval": 600_000}))
    page.clock.run_for(2000)
    assert api.posts == []

    page.evaluate("window.scrollTo(0, 1300)")  # 1300 + 800 of 4000 px: past half
    api.wait_for(lambda posts: [p["body"]["slots"] for p in posts] == [["promo"]])
    page.wait_for_selector("#promo-swapped")
    scroll_to(page, 0, "#promo-swapped")
    page.clock.run_for(1100)
    assert [e["decision_id"] for e in queued(page) if e["type"] == "impression"] == [
        slot_decision("promo")["decision_id"]
    ]

    page.clock.run_for(7000)  # 10 s of visible time in all
    page.wait_for_selector("#nudge-swapped")
    page.evaluate("document.dispatchEvent(new MouseEvent('mouseout', {clientY: -2, relatedTarget: null}))")
    page.wait_for_selector("#leave-swapped")
    slots = [p["body"]["slots"] for p in api.posts if p["path"] == "/api/v1/decisions/"]
    assert slots == [["promo"], ["nudge"], ["leave"]]
    assert page.locator(".tailor-slot").all_inner_texts()[:3] == ["Tailored promo", "Tailored nudge", "Tailored leave"]


@pytest.mark.browser
def test_browser_cache_friendly_markers_are_resolved_in_one_request_and_keep_their_height(api, page):
    # A cached page: three pending slots, one of them unpublished since (the API refuses it by index).
    body = """
    <div data-tailor-slot="hero" data-tailor-pending><div style="height:420px">Default hero</div></div>
    <div data-tailor-slot="gone-offer" data-tailor-pending>Old offer</div>
    <div data-tailor-slot="footer" data-tailor-pending>Default footer</div>
    """
    url = api.page("cached.html", body, {"flushInterval": 600_000})
    page.goto(url + "?utm_source=newsletter&utm_bogus=1&ref=a")
    page.wait_for_selector("#footer-swapped")
    asked = [p["body"] for p in api.posts if p["path"] == "/api/v1/decisions/"]
    assert asked[0] == {
        "slots": ["hero", "gone-offer", "footer"],
        "context": {
            "query": {"utm_source": "newsletter", "utm_bogus": "1", "ref": "a"},
            "referrer": "",
            "utm_source": "newsletter",  # only the UTM parameters the API knows travel flat
        },
    }
    assert asked[1:] == [{"slots": ["hero", "footer"]}]  # once more, without the refused slot
    assert page.locator("[data-tailor-pending]").count() == 0  # every marker shown, the refused one with its default
    assert page.locator('[data-tailor-slot="gone-offer"]').inner_text() == "Old offer"
    hero = page.locator('[data-tailor-slot="hero"]').first
    assert (
        hero.locator("[data-tailor-decision]").get_attribute("data-tailor-decision")
        == (slot_decision("hero")["decision_id"])
    )
    assert hero.bounding_box()["height"] == 420  # the 300 px variant inside the box the 420 px default held
    page.clock.run_for(1100)
    impressions = [e["decision_id"] for e in queued(page) if e["type"] == "impression"]
    assert slot_decision("hero")["decision_id"] in impressions
