"""Template tag ``{% tracking_script %}``: the tracker on a page, configured from ``settings.TAILOR``.

The tracker is one async script whose configuration (endpoints, consent mode, Do Not Track) travels as JSON in its
``data-tailor-config`` attribute, escaped by ``format_html``: no inline script, so a strict Content Security Policy
can stay strict. ``{% tracking_script banner=True %}`` adds the consent banner (``tracking/consent_banner.html``).
``{% tracking_head %}`` in ``<head>`` hides cache-friendly slots until the tracker has swapped them in.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..conf import setting

register = template.Library()

CONSENT_MODES = ("implied", "required")
# tracker.js option -> (URL name, the path of the API contract when the name is not routed)
ENDPOINTS = {
    "endpoint": ("events-create", "/api/v1/events/"),
    "decisionsEndpoint": ("decisions-create", "/api/v1/decisions/"),
    "consentEndpoint": ("consent-update", "/api/v1/consent/"),
}


def _url(name: str, fallback: str) -> str:
    try:
        return reverse(name)  # honours a site mounted under a prefix (SCRIPT_NAME)
    except NoReverseMatch:
        return fallback


def tracker_config() -> dict[str, Any]:
    """The options tracker.js starts with: ``settings.TAILOR`` over the API contract's defaults."""
    consent = setting("CONSENT_MODE")
    if consent not in CONSENT_MODES:
        # A typo must not turn "required" into tracking without consent.
        raise ImproperlyConfigured(f"TAILOR['CONSENT_MODE'] is {consent!r}; use one of {', '.join(CONSENT_MODES)}.")
    config: dict[str, Any] = {option: _url(name, path) for option, (name, path) in ENDPOINTS.items()}
    config["consent"] = consent
    config["respectDoNotTrack"] = bool(setting("RESPECT_DO_NOT_TRACK"))
    config.update(setting("TRACKER_OPTIONS"))
    return config


@register.simple_tag(takes_context=True)
def tracking_script(context: template.Context, banner: bool = False) -> SafeString:
    """``<script async src=".../tracker.js" data-tailor-config="{...}">``, after the consent banner if asked."""
    request = context.get("request")
    if getattr(request, "is_preview", False):
        # A Wagtail preview is not a visit: no events, no consent banner, no decisions asked for (personalization.serving.preview).
        return SafeString("")
    config = tracker_config()
    script = format_html(
        '<script async src="{}" data-tailor-config="{}"></script>',
        static("tracking/tracker.js"),
        json.dumps(config, separators=(",", ":")),
    )
    if not banner:
        return script
    html = render_to_string("tracking/consent_banner.html", {"consent_mode": config["consent"]}, request)
    return html + script  # both safe, so the sum is too


@register.simple_tag
def tracking_head() -> SafeString:
    """In cache-friendly mode, the style that keeps pending slots hidden (their space kept) until they are swapped.

    The timeout is CSS (an animation delay), not script: if tracker.js or the API never answers, the default shows
    after ``CACHE_FRIENDLY_HIDE_MS``; without JavaScript at once. Nothing outside the mode.
    """
    if not setting("CACHE_FRIENDLY"):
        return SafeString("")
    return format_html(
        "<style>[data-tailor-pending]{{visibility:hidden;animation:tailor-reveal 0s {}ms forwards}}"
        "@keyframes tailor-reveal{{to{{visibility:visible}}}}</style>"
        "<noscript><style>[data-tailor-pending]{{visibility:visible;animation:none}}</style></noscript>",
        int(setting("CACHE_FRIENDLY_HIDE_MS")),
    )
