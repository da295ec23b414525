"""In Chromium: a page on another site cannot change a visitor's consent, and a cross-site POST-back
(a payment provider or a single sign-on posting back to the site) keeps the visitor's id.

The other site is a small HTTP server on 127.0.0.1 and another port; the live server is reached as
localhost, so the two are different sites to the browser, which withholds the SameSite=Lax cookies
from the cross-site POSTs and marks them with ``Origin`` and ``Sec-Fetch-Site``, as it would in
production.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class OtherSite:
    """Serves the HTML pages a test puts in ``pages`` (path -> HTML) from another origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, "not found").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_site() -> Iterator[OtherSite]:
    site = OtherSite()
    yield site
    site.close()


def cookie(context, name: str) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == name), None)


def auto_submit(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return f'<form method="post" action="{action}">{inputs}</form><script>document.forms[0].submit()</script>'


def opted_out_visitor(browser, live_server):
    """A visitor who opened the site and opted out of everything through it (a same-origin fetch)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/")
    status = page.evaluate(
        """() => fetch("/api/v1/consent/", {method: "POST", headers: {"Content-Type": "application/json"},
                       body: JSON.stringify({analytics: false, personalization: false})}).then(r => r.status)"""
    )
    assert status == 200  # this site's own page may
    assert cookie(context, "tailor_consent") == "a0p0"
    return context, page, cookie(context, "tailor_vid")


def consent_records() -> list[tuple[str, bool, bool]]:
    from tracking.models import Consent

    return [(str(c.visitor_id), c.analytics, c.personalization) for c in Consent.objects.all()]


def test_another_sites_form_cannot_opt_the_visitor_back_in(browser, live_server, seeded, other_site):
    context, page, visitor = opted_out_visitor(browser, live_server)
    other_site.pages["/win-a-prize"] = auto_submit(
        live_server.url + "/api/v1/consent/", {"analytics": "true", "personalization": "true"}
    )

    with page.expect_response(lambda r: r.url.endswith("/api/v1/consent/")) as answer:
        page.goto(other_site.url + "/win-a-prize")

    assert answer.value.status == 403
    assert "cross-site" in answer.value.json()["detail"]
    assert cookie(context, "tailor_vid") == visitor
    assert cookie(context, "tailor_consent") == "a0p0"
    assert consent_records() == [(visitor, False, False)]
    context.close()


def test_another_sites_fetch_cannot_change_consent(browser, live_server, seeded, other_site):
    context, page, visitor = opted_out_visitor(browser, live_server)
    endpoint = live_server.url + "/api/v1/consent/"
    # Requests a page may send to any site without asking first (no CORS preflight).
    other_site.pages["/track"] = f"""<script>
      const opts = {{method: "POST", mode: "no-cors", credentials: "include"}};
      window.sent = Promise.all([
        fetch("{endpoint}", {{...opts, headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
                              body: "analytics=true&personalization=true"}}),
        fetch("{endpoint}", {{...opts, headers: {{"Content-Type": "text/plain"}},
                              body: JSON.stringify({{analytics: true, personalization: true}})}}),
      ]).then(() => "sent");
    </script>"""
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if r.url == endpoint else None)

    page.goto(other_site.url + "/track")
    assert page.evaluate("() => window.sent") == "sent"
    page.wait_for_timeout(300)

    assert statuses == [403, 403]
    assert cookie(context, "tailor_vid") == visitor
    assert cookie(context, "tailor_consent") == "a0p0"
    assert consent_records() == [(visitor, False, False)]
    context.close()


def test_a_cross_site_post_back_keeps_the_visitors_id(browser, live_server, seeded, other_site):
    from tracking.models import DecisionLog

    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/")
    visitor = cookie(context, "tailor_vid")
    # The payment provider's page posts the visitor back to the shop.
    other_site.pages["/pay"] = auto_submit(live_server.url + "/", {"payment": "paid", "order": "42"})

    with page.expect_response(lambda r: r.url == live_server.url + "/" and r.request.method == "POST") as back:
        page.goto(other_site.url + "/pay")
    assert back.value.request.headers.get("origin") == other_site.url
    assert "tailor_vid" not in (back.value.request.headers.get("cookie") or "")  # withheld, as in production
    assert "set-cookie" not in back.value.headers

    assert cookie(context, "tailor_vid") == visitor
    page.goto(live_server.url + "/")  # the shop's next page: the cookie is sent again
    assert cookie(context, "tailor_vid") == visitor
    assert {str(v) for v in DecisionLog.objects.values_list("visitor_id", flat=True)} <= {visitor, "None"}
    assert DecisionLog.objects.filter(visitor_id=visitor).count() == 4  # two page views, two slots each
    context.close()
