"""Turning a variant's parameters into HTML.

Parameters are flattened once, when a slot is published and cached, into
JSON-ready primitives (rich text expanded to HTML, images resolved to a
rendition URL), so rendering per request touches no database. Rendering fills
placeholders safely and hands the values to the micro-template as context:
Django's autoescaping applies, and editor text is never compiled as a template.
Every link and image URL is checked against the allow-list again here, whatever
the parameters' origin (the admin form, code, an import).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from tracking.outages import outage_guard

from . import micro_templates
from .links import link_allowed
from .placeholders import fallbacks_fill, substitute
from .richtext import richtext_render

IMAGE_RENDITION = "max-1200x800"
TEXT_FIELDS = ("headline", "cta_label", "badge")


def _image_params(image: Any) -> dict[str, Any] | None:
    if image is None:
        return None
    alt = image.default_alt_text or image.title
    rendition = None
    with outage_guard("cache", "image rendition not read from the renditions cache; reading its row") as outage:
        rendition = image.get_rendition(IMAGE_RENDITION)
    if outage.failed:
        # Wagtail's renditions cache (Redis on most sites) is down: the catalog must still build.
        rendition = image.renditions.filter(filter_spec=IMAGE_RENDITION).first()
        if rendition is None:  # never rendered yet: the original, until the cache is back
            return {"url": image.file.url, "alt": alt, "width": image.width, "height": image.height}
    return {"url": rendition.url, "alt": alt, "width": rendition.width, "height": rendition.height}


def params_from_block_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a micro-template StructValue to primitives (queries for images happen here)."""
    params: dict[str, Any] = {}
    for name, field_value in value.items():
        if name == "image":
            params[name] = _image_params(field_value)
        elif name == "body":
            params[name] = str(field_value) if field_value else ""
        else:
            params[name] = field_value if field_value is not None else ""
    return params


def params_personalize(params: Mapping[str, Any], values: Mapping[str, object]) -> dict[str, Any]:
    """Parameters as the visitor gets them (in HTML or from the API): placeholders filled, URLs checked.

    Text fields stay plain text (the template or the client escapes them); the
    body is rebuilt as safe HTML with placeholders filled in its text only. The
    ``cta_url`` is an attribute, so a placeholder there takes its fallback; a
    disallowed ``cta_url`` becomes "" (the templates then show no button) and an
    image with a disallowed source is dropped.
    """
    out = dict(params)
    for name in TEXT_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = substitute(out[name], values)
    if "body" in out:
        out["body"] = richtext_render(out["body"], values) if isinstance(out["body"], str) else ""
    if "cta_url" in out:
        url = fallbacks_fill(out["cta_url"]) if isinstance(out["cta_url"], str) else ""
        out["cta_url"] = url if link_allowed(url) else ""
    image = out.get("image")
    if image is not None and not (isinstance(image, Mapping) and link_allowed(str(image.get("url") or ""))):
        out["image"] = None
    return out


def template_render(
    template_key: str, params: Mapping[str, Any], values: Mapping[str, object] | None = None
) -> SafeString:
    params = params_personalize(params, values or {})
    # params_personalize rebuilt the body from the tag, attribute and link allow-lists.
    body = mark_safe(params.get("body") or "")  # noqa: S308
    template = get_template(micro_templates.get(template_key).template)
    return mark_safe(template.render({"params": params, "body": body, "template_key": template_key}))  # noqa: S308


def variant_render(
    *,
    slot_key: str,
    variant_key: str,
    template_key: str,
    params: Mapping[str, Any],
    decision_id: str,
    values: Mapping[str, object] | None = None,
    trigger: str = "",
) -> SafeString:
    """The variant's HTML inside the wrapper that the tracker attributes events to.

    A ``trigger`` ("scroll:50", "dwell:10", "exit") tells the tracker to ask for a
    new decision when it fires and swap this content in place.
    """
    # html.escape is what Django's escape() calls, without format_html's lazy-string checks (every slot, every page).
    trigger_attribute = f' data-tailor-trigger="{escape(trigger)}"' if trigger else ""
    return mark_safe(  # noqa: S308 - every value is escaped; the inner HTML is the micro-template's own output
        f'<div class="tailor-slot tailor-{escape(template_key)}" data-tailor-slot="{escape(slot_key)}"'
        f' data-tailor-variant="{escape(variant_key)}" data-tailor-decision="{escape(decision_id)}"{trigger_attribute}>'
        f"{template_render(template_key, params, values)}</div>"
    )
