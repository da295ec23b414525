"""The README's five-minute tour, walked as a new reader would: its commands as written, its pages in Chromium.

A fresh demo (what ``make demo`` runs: the Makefile's recipe is checked, then run without its pip step)
on SQLite in a temporary folder, served by ``runserver``. The commands come out of the README's tour
section, so a tour edited without the demo (or the other way round) fails here. Two things are
shortened, and only those: a visit times out after 3 s instead of 30 minutes
(``TAILOR_VISIT_TIMEOUT_SECONDS``), and ``simulate_traffic`` runs on fewer visitors than the tour's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from devtools.services import free_port
from tests.browser.conftest import TIMEOUT_MS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
VISIT_TIMEOUT = 3  # seconds, for "back after more than 30 minutes"
SIMULATED_VISITORS = "600"  # per phase: enough to train; the tour's figure takes minutes
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
HERO = '[data-tailor-slot="home-hero"]'
BANNER = '[data-tailor-slot="cta-banner"]'
HEADLINES = {
    "hero-default": "Hello there, meet Tailor",
    "hero-mobile": "Tailor, in your pocket",
    "hero-newsletter": "Welcome, newsletter reader",
    "hero-welcome-back": "Welcome back!",
}
BANNERS = ("Not quite right? Alterations are free for 30 days", "Book a fitting with a tailor")


def tour_text() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## A five-minute tour")
    return readme[start : readme.index("\n## ", start + 1)]


def tour_commands(text: str) -> list[str]:
    """The tour's manage.py commands, in order, as a reader copies them."""
    return re.findall(r"`(\.venv/bin/python manage\.py [^`]+)`", text.replace("\n   ", " "))


def make_demo_recipe() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\ndemo:") + 1 :].split("\n\n")[0].splitlines()[1:]
    return [line.strip().replace("$(PY)", ".venv/bin/python") for line in recipe if not line.strip().startswith("@")]


class Demo:
    """The demo served on a free port from a fresh database; ``run`` runs a tour command against it."""

    def __init__(self, var: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TAILOR_VAR_DIR": str(var),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TAILOR_VISIT_TIMEOUT_SECONDS": str(VISIT_TIMEOUT),
        }
        self.server: subprocess.Popen | None = None

    def run(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        args = shlex.split(command.replace("$(PORT)", str(self.port)))
        args[0] = sys.executable if args[0] == ".venv/bin/python" else args[0]
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)  # noqa: S603
        assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        return done

    def serve(self, command: str) -> None:
        args = shlex.split(command.replace("$(PORT)", str(self.port)))
        args[0] = sys.executable
        self.server = subprocess.Popen(  # noqa: S603 - the Makefile's own command
            [*args[:2], *args[2:3], "--noreload", *args[3:]],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/", timeout=5):  # noqa: S310 - our own server
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert self.server.poll() is None, "runserver exited"
                time.sleep(0.3)
        raise AssertionError("the demo did not answer within 60 s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)


@pytest.fixture
def tour_demo(tmp_path):
    served = Demo(tmp_path / "var")
    try:
        yield served
    finally:
        served.stop()


def headline(page, base: str, path: str = "/") -> str:
    page.goto(base + path)
    return page.locator(f"{HERO} h1").inner_text()


def visitor(browser, **options):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def until(check, timeout: float = 15.0, what=""):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"not seen within {timeout:.0f} s: {what() if callable(what) else what}"
            return found
        time.sleep(0.5)


def test_the_readme_tour_as_written(browser, tour_demo):
    demo = tour_demo
    text = tour_text()
    commands = tour_commands(text)
    strategy_rules = ".venv/bin/python manage.py seed_demo --hero-strategy rules"
    results = ".venv/bin/python manage.py results --slot home-hero --metric goal:basket"
    simulate = next(c for c in commands if "simulate_traffic" in c and "--continuous" not in c)
    assert strategy_rules in commands
    assert results in commands
    prose = " ".join(text.split())  # Markdown wraps lines anywhere
    for words in [*HEADLINES.values(), *BANNERS, 'data-tailor-slot="home-hero"']:
        assert words in prose, f"the tour no longer says {words!r}"

    # 1. `make demo`: migrate, seed, serve (the recipe's pip step is left out: the venv is the suite's).
    recipe = make_demo_recipe()
    assert recipe == [
        ".venv/bin/python manage.py migrate --noinput",
        ".venv/bin/python manage.py seed_demo",
        ".venv/bin/python manage.py runserver 127.0.0.1:$(PORT)",
    ], recipe
    for command in recipe[:2]:
        demo.run(command)
    demo.serve(recipe[2])
    base = demo.base

    # Until a model is trained each visitor draws one of the four, and keeps it; each page view is a new decision.
    reader = visitor(browser)
    page = reader.new_page()
    mine = headline(page, base)
    assert mine in HEADLINES.values()
    banner = page.locator(f"{BANNER} .headline").inner_text()
    decisions = {page.locator(HERO).get_attribute("data-tailor-decision")}
    for _ in range(3):
        page.reload()
        assert page.locator(f"{HERO} h1").inner_text() == mine
        assert page.locator(f"{BANNER} .headline").inner_text() == banner
        decisions.add(page.locator(HERO).get_attribute("data-tailor-decision"))
    assert len(decisions) == 4, decisions
    source = reader.request.get(base + "/").text()
    assert re.search(
        r'<div class="tailor-slot tailor-hero" data-tailor-slot="home-hero" data-tailor-variant="hero-[a-z-]+" '
        r'data-tailor-decision="[0-9a-f]{32}"',
        source,
    ), source[:2000]
    expect(page.locator(f"{HERO} img")).to_be_visible()  # a hero with a picture
    reader.close()

    # 2. Private windows are new visitors: the hero and the banner are drawn again.
    headlines, banners = {mine}, {banner}
    for _ in range(25):
        if len(headlines) > 1 and len(banners) == len(BANNERS):
            break
        private = visitor(browser)
        private_page = private.new_page()
        headlines.add(headline(private_page, base))
        banners.add(private_page.locator(f"{BANNER} .headline").inner_text())
        private.close()
    assert len(headlines) > 1, headlines
    assert headlines <= set(HEADLINES.values()), headlines
    assert banners == set(BANNERS), banners

    # 3. Rules: the command as written, then what each kind of visitor sees.
    out = demo.run(strategy_rules).stdout
    assert "Published home-hero on the 'rules' strategy" in out, out

    def fresh_headline(path: str = "/", **options) -> str:
        context = visitor(browser, **options)
        try:
            return headline(context.new_page(), base, path)
        finally:
            context.close()

    until(lambda: fresh_headline() == HEADLINES["hero-default"], what="the default hero for a desktop visitor")
    assert fresh_headline("/?utm_source=newsletter") == HEADLINES["hero-newsletter"]
    phone = {"user_agent": IPHONE, "viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    phone_context = browser.new_context(**phone)
    assert headline(phone_context.new_page(), base) == HEADLINES["hero-mobile"]
    phone_context.close()
    returning = visitor(browser)
    page = returning.new_page()
    assert headline(page, base) == HEADLINES["hero-default"]
    time.sleep(VISIT_TIMEOUT + 1)
    assert headline(page, base) == HEADLINES["hero-welcome-back"]
    returning.close()

    # 4. A conversion: the hero's call to action, then Add to basket; results count it for the variant seen.
    shopper = visitor(browser)
    page = shopper.new_page()
    page.goto(base + "/")
    shown = page.locator(HERO).get_attribute("data-tailor-variant")
    page.wait_for_timeout(2000)  # the reader looks at the hero: the tracker reports it seen
    page.locator(HERO).get_by_role("link", name="See the product").click()
    page.wait_for_url("**/product/")
    page.get_by_role("button", name="Add to basket").click()
    page.wait_for_url("**/basket/")
    expect(page.locator("table.basket")).to_contain_text("The Oxford shirt")
    page.wait_for_timeout(1000)

    last: list[dict] = []

    def converted() -> dict | None:
        last[:] = [json.loads(demo.run(results + " --json").stdout)]
        variant = next((v for v in last[0]["variants"] if v["key"] == shown), None)
        return variant if variant and variant["visitors"] >= 1 and variant["conversions"] >= 1 else None

    assert until(converted, timeout=20, what=lambda: f"a basket conversion counted for {shown}: {last}")
    shopper.close()

    # 5. The simulation works on the hero as step 3 left it (on rules), says what it did, and teaches a model.
    assert re.fullmatch(r"\.venv/bin/python manage\.py simulate_traffic --visitors \d+", simulate), simulate
    done = demo.run(re.sub(r"--visitors \d+", f"--visitors {SIMULATED_VISITORS}", simulate))
    assert "home-hero was on the 'rules' strategy: published it on 'model'" in done.stderr, done.stderr
    assert "promoted True" in done.stdout, done.stdout

    # The headless call, as written (on this server's port).
    curl = re.search(r"```bash\n\s*(curl .+?)\n\s*```", text, re.DOTALL)
    assert curl, "the tour's curl example"
    command = re.sub(r"\\\n\s*", " ", curl.group(1)).replace("127.0.0.1:8000", f"127.0.0.1:{demo.port}")
    answer = json.loads(demo.run(command).stdout)
    assert answer["decisions"][0]["slot"] == "home-hero", answer
