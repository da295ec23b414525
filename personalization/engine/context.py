"""The visitor's context as the engine sees it.

``Context`` is an immutable snapshot of everything a policy or segment rule may
look at for one request: device, browser, where the visitor came from, when,
and how often they have been here. It is built from a plain mapping (what
request parsing or an API body produced) so the engine never sees a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

UTM_PARAMS = ("source", "medium", "campaign", "term", "content")
DEVICES = ("desktop", "mobile", "tablet", "bot")


def _host(url: Any) -> str:
    try:
        return (urlsplit(str(url)).hostname or "") if url else ""
    except ValueError:  # a referrer that does not parse (http://[::1) has no host: treated as absent
        return ""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Context:
    visitor_id: str = ""
    device: str = "desktop"
    browser: str = ""
    os: str = ""
    country: str = ""
    referrer: str = ""
    referrer_host: str = ""
    utm: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    query: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    hour: int = 0
    weekday: int = 0  # Monday is 0, as in datetime.weekday()
    is_authenticated: bool = False
    visit_count: int = 1
    is_returning: bool = False
    attributes: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    features: Mapping[str, float | None] = field(default_factory=lambda: _frozen({}))
    # Model scores for this visitor and slot computed ahead of time by the scoring worker, if any.
    scores: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    # snapshot(), kept: every slot of a page logs the same context. Not a field of a copy (replace() resets it).
    _snapshot: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Context:
        """Build a context from a flat mapping; unknown keys are ignored.

        ``utm_source`` style keys are folded into ``utm`` so that API bodies
        and request parsing can use the same flat vocabulary.
        """
        utm = dict(data.get("utm") or {})
        for name in UTM_PARAMS:
            value = data.get(f"utm_{name}")
            if value:
                utm[name] = str(value)
        visit_count = int(data.get("visit_count") or 1)
        return cls(
            visitor_id=str(data.get("visitor_id") or ""),
            device=str(data.get("device") or "desktop").lower(),
            browser=str(data.get("browser") or ""),
            os=str(data.get("os") or ""),
            country=str(data.get("country") or "").upper(),
            referrer=str(data.get("referrer") or ""),
            referrer_host=str(data.get("referrer_host") or _host(data.get("referrer"))).lower(),
            utm=_frozen(utm),
            query=_frozen(data.get("query")),
            hour=int(data.get("hour") or 0),
            weekday=int(data.get("weekday") or 0),
            is_authenticated=bool(data.get("is_authenticated")),
            visit_count=visit_count,
            is_returning=bool(data.get("is_returning", visit_count > 1)),
            attributes=_frozen(data.get("attributes")),
            features=_frozen(data.get("features")),
            scores=_frozen(data.get("scores")),
        )

    def snapshot(self) -> dict[str, Any]:
        """A compact, JSON-ready copy for the decision log (empty values dropped)."""
        out = self._snapshot
        if out is None:
            out = {}
            for name, is_mapping in _LOGGED_FIELDS:
                value = getattr(self, name)
                if is_mapping:
                    value = {k: v for k, v in value.items() if v is not None}
                if value not in ("", {}, None):
                    out[name] = value
            object.__setattr__(self, "_snapshot", out)
        # A copy down to the mappings it made (utm, attributes, ...): one record's copy never changes another's.
        return {name: dict(value) if type(value) is dict else value for name, value in out.items()}


# The fields a snapshot logs, in order, and whether each holds a mapping: read once from the annotations, as
# isinstance() against the Mapping ABC per field and per decision is slow.
_LOGGED_FIELDS = tuple(
    (f.name, str(f.type).startswith("Mapping["))
    for f in fields(Context)
    if f.name not in ("visitor_id", "scores", "_snapshot")
)
