"""``{% shop_url page %}``: a page's URL that a cache outage cannot take down.

Wagtail keeps the site's root paths in the default cache (Redis in production) and ``{% pageurl %}`` raises
when it cannot read them; the shop's links are all under the site's root, so they are rebuilt from the
page's path instead, and the outage is counted like Tailor's own.
"""

from __future__ import annotations

from typing import Any

from django import template
from wagtail.models import Page

from tracking.outages import outage_guard

register = template.Library()


@register.simple_tag(takes_context=True)
def shop_url(context: dict[str, Any], page: Page) -> str:
    url = None
    with outage_guard("cache", "page URL not read from Wagtail's site cache; built from the page's path") as outage:
        url = page.get_url(request=context.get("request"))
    if outage.failed or url is None:
        # url_path is "/<site root>/<slug>/...": the demo serves one site whose root is the home page.
        return "/" + "/".join(page.url_path.strip("/").split("/")[1:]) + ("/" if page.depth > 2 else "")
    return url
