"""A strict JSON parser for Tailor's API, and the checks every decoded value passes.

Python's ``json`` takes what PostgreSQL and the rest of the stack do not: nesting deep
enough to exhaust the stack, ``1e400`` (infinity), integers of any length, lone
surrogates that cannot be encoded again. ``StrictJSONParser`` decodes with msgspec and
refuses all of these with a 400 that says where (``$.context.visit_count``), so hostile
JSON never becomes a RecursionError, OverflowError or UnicodeEncodeError 500 further on.
``json_clean`` is the same check for values that did not come through the parser
(a serializer used directly); it also strips NUL, which no text column accepts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec
from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from ..text import text_escaped

MAX_DEPTH = 32
# Every integer the stack stores or computes with fits PostgreSQL's bigint.
MAX_INTEGER = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

PathItem = str | int


class JsonValueError(ValueError):
    """A decoded value the stack cannot take, and the path to it (``("context", "visit_count")``)."""

    def __init__(self, path: tuple[PathItem, ...], message: str) -> None:
        super().__init__(f"{message} (at {path_text(path)})")
        self.path = path
        self.message = message

    def detail(self) -> Any:
        """The error shaped like a serializer's: nested by field, a list of messages at the leaf."""
        out: Any = [f"{self.message} (at {path_text(self.path)})"]
        for item in reversed(self.path):
            out = {item if isinstance(item, int) else text_escaped(item): out}
        return out if isinstance(out, dict) else {"detail": out[0]}


def path_text(path: tuple[PathItem, ...]) -> str:
    out = "$"
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else f".{text_escaped(item)}"
    return out


def json_clean(value: Any, path: tuple[PathItem, ...] = ()) -> Any:
    """``value`` with NUL removed from every string and key; raises ``JsonValueError`` for what cannot be stored.

    Refused: nesting deeper than ``MAX_DEPTH``, integers beyond 64 bits, non-finite
    numbers and text with a lone surrogate. Recursion is safe: it stops at ``MAX_DEPTH``.
    """
    if isinstance(value, str):
        return _text_clean(value, path)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise JsonValueError(path, f"Integer out of range: at most {len(str(MAX_INTEGER))} digits.")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError(path, "Number out of range: it must be finite.")
        return value
    if isinstance(value, Mapping | list):
        if len(path) >= MAX_DEPTH:
            raise JsonValueError(path, f"Nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, list):
            return [json_clean(item, (*path, i)) for i, item in enumerate(value)]
        out = {}
        for key, item in value.items():
            name = _text_clean(key, (*path, key)) if isinstance(key, str) else key
            out[name] = json_clean(item, (*path, name))
        return out
    return value  # not from JSON (a serializer used directly): the fields judge it


def _text_clean(text: str, path: tuple[PathItem, ...]) -> str:
    if _SURROGATE.search(text):
        raise JsonValueError(path, "Text holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode.")
    return text.replace("\x00", "") if "\x00" in text else text


def json_parse(raw: bytes) -> Any:
    """Decode a JSON body strictly; raises ``ParseError`` naming what is wrong and where."""
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise ParseError(_decode_error_explain(raw)) from None
    try:
        return json_clean(data)
    except JsonValueError as exc:
        raise ParseError(exc.detail()) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_error_explain(raw: bytes) -> Any:
    """Why msgspec refused the body, found again with the standard library, which says more."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"The body is not valid UTF-8 (byte {exc.start})."
    try:
        # The standard library takes 1e400 and lone surrogates, so json_clean can say where they are.
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return f"The body is nested deeper than {MAX_DEPTH} levels."
    except ValueError as exc:
        return f"The body is not valid JSON: {exc}."
    try:
        json_clean(data)
    except JsonValueError as exc:
        return exc.detail()
    except RecursionError:
        return f"The body is nested deeper than {MAX_DEPTH} levels."
    return "The body is not valid JSON."


class BodyTooLarge(ParseError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type (``application/merge-patch+json``), whatever its parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JSONContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that every JSON media type goes to the JSON parser: DRF matches
    ``application/json`` exactly, so ``application/merge-patch+json`` would be a 415 on the views
    that parse with it and a 202 on the events endpoint, which reads its own body."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        content_type = request.content_type
        if content_type and len(content_type) <= self.max_media_type_length and is_json_media_type(content_type):
            for parser in parsers:
                if parser.media_type == "application/json":
                    return parser
        return super().select_parser(request, parsers)


class StrictJSONParser(BaseParser):
    """``application/json`` (and ``+json`` types, with ``JSONContentNegotiation``) only, UTF-8, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, decoded by msgspec
    and checked by ``json_clean``."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1 if limit is not None else -1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge(f"The body is larger than {limit} bytes.")
        return json_parse(raw)


class JSONOnlyApi:
    """Tailor's wire format on any site that mounts its API: strict JSON in, JSON out.

    Set on the views rather than left to ``REST_FRAMEWORK``: a site's own parsers (forms,
    multipart) and browsable renderer are its choice for its own API, not a way into Tailor's.
    """

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONContentNegotiation
