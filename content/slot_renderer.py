"""The one seam between content and the decision engine.

``SlotBlock`` needs a variant chosen for the visitor, but content must not
import personalization. Personalization registers a renderer here at start-up
(``PersonalizationConfig.ready``); content only calls it.
"""

from __future__ import annotations

from typing import Any, Protocol


class SlotRenderer(Protocol):
    def render(self, slot_key: str, request: Any) -> str: ...

    def represent(self, slot_key: str, request: Any) -> dict[str, Any] | None: ...


class _Unregistered:
    def render(self, slot_key: str, request: Any) -> str:
        raise RuntimeError("No slot renderer registered; is 'personalization' in INSTALLED_APPS?")

    represent = render  # type: ignore[assignment]


_renderer: SlotRenderer = _Unregistered()


def register(renderer: SlotRenderer) -> None:
    global _renderer
    _renderer = renderer


def get() -> SlotRenderer:
    return _renderer
