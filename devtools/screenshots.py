"""The README's screenshots: the demo's home page and the home hero's slot editor, at 1280 × 800.

Starts the demo on a fresh SQLite database in a temporary folder (migrate, ``seed_demo --hero-strategy
rules`` so that a desktop visitor's hero is the same on every run, ``runserver``), then drives the system
Chromium with Playwright: ``.venv/bin/python -m devtools.screenshots [--out docs/screenshots]``.
Nothing of the demo's own ``var/`` is touched.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools.services import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "tailor-demo"  # noqa: S105 - the throwaway demo database's login


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def server_wait(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runserver exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - our own local server
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def screenshots_take(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    home, editor = out / "demo-home.png", out / "slot-editor.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(base + "/")
        page.get_by_role("button", name="OK").click()  # the consent banner, answered as a visitor would
        page.mouse.move(640, 5)  # off the product cards: no hover shadow in the picture
        page.wait_for_load_state("networkidle")
        page.screenshot(path=home)
        page.goto(base + "/admin/login/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/admin/")
        page.goto(base + "/admin/snippets/content/slot/")
        page.get_by_role("link", name="Home hero", exact=True).first.click()
        page.wait_for_url("**/edit/**")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=editor)
        browser.close()
    return [home, editor]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tailor-screenshots-") as var:
        env = {
            **os.environ,
            "TAILOR_VAR_DIR": var,
            "TAILOR_DEMO_PASSWORD": PASSWORD,
            "DATABASE_URL": "",
            "CELERY_BROKER_URL": "",
            "REDIS_URL": "",
            "DEBUG": "1",  # runserver serves the uploaded images (media) only in DEBUG
        }
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", "--hero-strategy", "rules")
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            server_wait(base + "/", server)
            for path in screenshots_take(base, args.out):
                print(path)  # noqa: T201 - a developer's script
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
