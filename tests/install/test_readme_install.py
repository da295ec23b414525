"""README's "Add Tailor to your Wagtail site", followed on a site fresh from ``wagtail start``.

The site gets the wheel, not this checkout: it lives in a temporary folder with its own virtual
environment, whose site-packages hold the installed wheel and, after them, the test environment's
packages (so nothing is downloaded); the checkout is on no path. The settings, the urls line, the
migrate command and the template tag are the README's own code blocks, so a README that stops
working fails here. Then the site's server must serve a personalized home page, answer the
decisions API and list the imported slot in its admin.
"""

from __future__ import annotations

import csv
import http.cookiejar
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration

SECTION = "## Add Tailor to your Wagtail site"
SLOT = "home-hero"
PASSWORD = "install-test-password-8d1f"  # noqa: S105 - a throwaway superuser of a throwaway site


def readme_blocks() -> list[tuple[str, str]]:
    """The section's fenced code blocks as (language, code), in order, without the list indentation."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    fences = re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", section, flags=re.M | re.S)
    return [(m[2], textwrap.dedent(m[3])) for m in fences]


def readme_block(language: str, marker: str) -> str:
    (code,) = [code for lang, code in readme_blocks() if lang == language and marker in code]
    return code


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """A ``wagtail start`` site in ``folder`` with its own interpreter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.venv = folder / "venv"
        self.python = str(self.venv / "bin" / "python")
        self.root = folder / "mysite"
        # No PYTHONPATH, settings module or broker of ours leaks in: the site configures nothing but the README.
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DJANGO_", "TAILOR_", "CELERY_"))
        }
        self.env.update(DJANGO_SUPERUSER_PASSWORD=PASSWORD, PYTHONDONTWRITEBYTECODE="1")

    def run(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            args,
            cwd=self.root if self.root.exists() else self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{shlex.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def readme_command(self, code: str) -> str:
        """A README shell line, run with the site's interpreter for its ``python``."""
        (line,) = [line for line in code.splitlines() if line.strip() and not line.startswith("#")]
        words = shlex.split(line)
        assert words[0] == "python", line
        return self.run(self.python, *words[1:])


@pytest.fixture(scope="module")
def site(tailor_wheel, tmp_path_factory) -> Site:
    site = Site(tmp_path_factory.mktemp("wagtail-site"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(site.venv)], check=True, timeout=60)
    site_packages = Path(
        site.run(site.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    # README step 1, offline: the wheel into the site's environment, its dependencies from the test environment.
    site.run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--target",
        str(site_packages),
        str(tailor_wheel),
    )
    (site_packages / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    site.run(site.python, "-c", "from wagtail.bin.wagtail import main; main()", "start", "mysite")
    # README step 2: the settings block, appended to the site's base settings.
    base = site.root / "mysite" / "settings" / "base.py"
    base.write_text(base.read_text() + "\n# Tailor (README)\n" + readme_block("python", "INSTALLED_APPS"))
    # README step 3: the include line, first in the site's urlpatterns.
    (include_line,) = [
        line
        for line in readme_block("python", 'include("personalization.urls")').splitlines()
        if 'include("personalization.urls")' in line
    ]
    urls = site.root / "mysite" / "urls.py"
    text = urls.read_text()
    assert text.count("urlpatterns = [\n") == 1
    urls.write_text(text.replace("urlpatterns = [\n", f"urlpatterns = [\n{include_line}\n"))
    # README step 4.
    site.readme_command(readme_block("bash", "migrate"))
    # README step 5: a slot from another system's decision log, placed in the home page's template.
    decisions = site.folder / "decisions.csv"
    with decisions.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "action", "reward", "propensity", "device"])
        for i in range(40):
            writer.writerow(
                [
                    f"2026-11-{1 + i % 28:02d}T12:00:00+00:00",
                    ("welcome", "offer")[i % 2],
                    int(i % 3 == 0),
                    0.5,
                    "mobile",
                ]
            )
    site.run(site.python, "manage.py", "import_decision_log", str(decisions), "--slot", SLOT)
    template = site.root / "home" / "templates" / "home" / "home_page.html"
    tag = readme_block("django", "{% personalize").strip()
    text = template.read_text()
    assert "{% block content %}" in text
    template.write_text(text.replace("{% block content %}", "{% block content %}\n" + tag, 1))
    site.run(
        site.python, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com"
    )
    return site


@pytest.fixture(scope="module")
def server(site):
    port = free_port()
    log = (site.folder / "server.log").open("w")
    process = subprocess.Popen(
        [site.python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=site.root,
        env=site.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/admin/login/", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the site's server did not start:\n" + (site.folder / "server.log").read_text())
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


def browser():
    """An opener that keeps cookies, as a visitor's browser does."""
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def test_site_runs_the_installed_wheel_not_this_checkout(site):
    where = site.run(site.python, "-c", "import content, personalization, tracking; print(personalization.__file__)")
    assert str(site.venv) in where
    assert not where.startswith(str(ROOT))
    result = subprocess.run([site.python, "-c", "import demo"], cwd=site.root, env=site.env, capture_output=True)
    assert result.returncode != 0  # the demo stays out of the wheel


def test_home_page_carries_a_personalized_slot(site, server):
    opener, jar = browser()
    html = opener.open(server + "/").read().decode()
    assert f'data-tailor-slot="{SLOT}"' in html
    assert re.search(r'data-tailor-decision="[0-9a-f-]{32,36}"', html)
    assert any(cookie.name == "tailor_vid" for cookie in jar)
    # The same visitor again: known now, so serving reads (and on a miss, rebuilds) their features.
    # The site configured no Celery, so the rebuild task runs here instead of looking for a broker.
    again = opener.open(server + "/").read().decode()
    assert re.search(r'data-tailor-decision="[0-9a-f-]{32,36}"', again)
    log = (site.folder / "server.log").read_text()
    assert "unavailable" not in log  # no broker to be unreachable: the site never configured one
    assert "Traceback" not in log


def test_static_files_come_from_the_wheel(server):
    tracker = urllib.request.urlopen(server + "/static/tracking/tracker.js", timeout=30).read()
    assert tracker == (ROOT / "tracking" / "static" / "tracking" / "tracker.js").read_bytes()


def test_decisions_api_answers(server):
    request = urllib.request.Request(
        server + "/api/v1/decisions/",
        data=json.dumps({"slots": [SLOT], "context": {"device": "mobile"}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    response = urllib.request.urlopen(request, timeout=30)
    assert response.status == 200
    body = json.loads(response.read())
    (decision,) = body["decisions"]
    assert decision["slot"] == SLOT
    assert decision["variant"]["key"] in ("welcome", "offer")
    assert re.fullmatch(r"[0-9a-f-]{32,36}", decision["decision_id"])


def test_api_speaks_strict_json_whatever_the_sites_rest_framework_settings(server):
    """The site's REST_FRAMEWORK lists DRF's default parsers (forms, multipart): Tailor's views keep to JSON."""
    request = urllib.request.Request(
        server + "/api/v1/decisions/",
        data=urllib.parse.urlencode({"slots": SLOT}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 415


def test_admin_lists_the_slot(server):
    opener, jar = browser()
    login = opener.open(server + "/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login)[1]
    form = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
    opener.open(
        urllib.request.Request(server + "/admin/login/", data=form, headers={"Referer": server + "/admin/login/"})
    )
    listing = opener.open(server + "/admin/snippets/content/slot/").read().decode()
    assert SLOT in listing


def test_celery_block_gives_the_schedule_to_merge(site):
    code = readme_block("python", "personalization.beat")
    script = code + "\nprint(sorted(entry['task'] for entry in CELERY_BEAT_SCHEDULE.values()))"
    tasks = site.run(site.python, "-c", script)
    assert "personalization.tasks.models_train" in tasks
    assert "tracking.tasks.decisions_flush" in tasks


def test_api_schema_and_docs_are_mounted(server):
    schema = json.loads(urllib.request.urlopen(server + "/api/schema/?format=json", timeout=30).read())
    assert schema["info"]["title"] == "Tailor API"
    assert {"/api/v1/decisions/", "/api/v1/events/", "/api/v1/consent/", "/api/v1/visitors/me/"} <= set(schema["paths"])
    docs = urllib.request.urlopen(server + "/api/docs/", timeout=30).read().decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()  # the sidecar serves Swagger UI from the site itself
