"""What an editor may write in a goal: a path pattern for page goals, a CSS selector for click goals.

Both are checked against small, conservative grammars, so that nothing the tracker receives can
make it throw or hang. A path pattern is a path with ``*`` standing for any characters: matched by
``path_matches`` (and the same loop in tracker.js) without compiling it into a regular expression,
in time bounded by the lengths of pattern and path. A CSS selector is accepted only when it is
made of the parts listed in ``css_selector_problem`` (a strict subset of what every browser's
``querySelector`` accepts), and the tracker still guards its ``matches`` calls.
"""

from __future__ import annotations

import re

PATTERN_MAX_LENGTH = 200
PATTERN_MAX_STARS = 5
SELECTOR_MAX_LENGTH = 200

# Fixed expressions (never built from an editor's text), each matched at one position.
_IDENT = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*")
_STRING = re.compile(r"\"[^\"\\\x00-\x1f\x7f]*\"|'[^'\\\x00-\x1f\x7f]*'")
_ATTR_OPERATOR = re.compile(r"[~|^$*]?=")
_SPACE = re.compile(r"[ \t]*")
PSEUDO_CLASSES = frozenset(
    {
        "first-child",
        "last-child",
        "only-child",
        "first-of-type",
        "last-of-type",
        "only-of-type",
        "empty",
        "checked",
        "disabled",
        "enabled",
        "required",
        "optional",
    }
)


def path_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not an acceptable page-goal pattern, or None when it is."""
    if not pattern.startswith("/"):
        return "Start with / (a path on this site, such as /checkout/thanks/)."
    if len(pattern) > PATTERN_MAX_LENGTH:
        return f"At most {PATTERN_MAX_LENGTH} characters."
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in pattern):
        return "No spaces or control characters."
    if "?" in pattern or "#" in pattern:
        return "The path only: leave out the ?query and the #fragment (they are never matched)."
    if pattern.count("*") > PATTERN_MAX_STARS:
        return f"At most {PATTERN_MAX_STARS} * in one pattern."
    return None


def path_matches(pattern: str, path: str) -> bool:
    """``path`` matches ``pattern``, where ``*`` stands for any characters (also none, also /).

    The classic two-pointer wildcard match: on a mismatch it backtracks to the last ``*`` only,
    so it runs in at most len(pattern) × len(path) steps. tracker.src.js has the same loop.
    """
    p = s = 0
    star, mark = -1, 0
    while s < len(path):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == path[s]:
            p += 1
            s += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, s
            p += 1
        elif star >= 0:
            mark += 1
            p, s = star + 1, mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


class _Selector:
    """A one-pass reader of the selector grammar; ``problem`` holds the first thing it refused."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def _fail(self, what: str) -> ValueError:
        shown = self.text[self.at : self.at + 10]
        where = f"at character {self.at + 1} ({shown!r})" if shown else "at the end"
        return ValueError(f"{what} {where}.")

    def _take(self, expression: re.Pattern[str]) -> str | None:
        found = expression.match(self.text, self.at)
        if not found or not found.group():
            return None
        self.at = found.end()
        return found.group()

    def _space(self) -> bool:
        start = self.at
        self.at = _SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]
        return self.at > start

    def _peek(self) -> str:
        return self.text[self.at : self.at + 1]

    def read(self) -> None:
        self._space()
        while True:
            self._complex()
            self._space()
            if self._peek() != ",":
                break
            self.at += 1
            self._space()
        if self.at != len(self.text):
            raise self._fail("Unexpected character")

    def _complex(self) -> None:
        self._compound()
        while True:
            spaced = self._space()
            char = self._peek()
            if char in (">", "+", "~"):
                self.at += 1
                self._space()
            elif not spaced or char in ("", ","):
                return
            self._compound()

    def _compound(self) -> None:
        parts = 0
        if self._peek() == "*":
            self.at += 1
            parts += 1
        elif self._take(_IDENT):
            parts += 1
        while True:
            char = self._peek()
            if char in ("#", "."):
                self.at += 1
                if not self._take(_IDENT):
                    raise self._fail("A name (letters, digits, - or _, not starting with a digit) must follow")
            elif char == "[":
                self._attribute()
            elif char == ":":
                self.at += 1
                name = self._take(_IDENT)
                if name is None or name.lower() not in PSEUDO_CLASSES:
                    raise self._fail(f"Use one of the pseudo-classes :{', :'.join(sorted(PSEUDO_CLASSES))}")
            else:
                break
            parts += 1
        if not parts:
            raise self._fail("Expected an element name, *, #id, .class, [attribute] or :pseudo-class")

    def _attribute(self) -> None:
        self.at += 1  # [
        self._space()
        if not self._take(_IDENT):
            raise self._fail("An attribute name must follow [")
        self._space()
        if self._take(_ATTR_OPERATOR):
            self._space()
            if not (self._take(_STRING) or self._take(_IDENT)):
                raise self._fail("Expected a quoted value (without quotes or backslashes inside) or a name")
            self._space()
        if self._peek() != "]":
            raise self._fail("Expected ]")
        self.at += 1


def css_selector_problem(selector: str) -> str | None:
    """Why ``selector`` is not an acceptable click-goal selector, or None when it is.

    Accepted: element names, ``*``, ``#id``, ``.class``, ``[attr]`` and ``[attr=value]`` (with
    ``~= |= ^= $= *=``; the value a name or a quoted string), the pseudo-classes in
    ``PSEUDO_CLASSES``, the combinators (space, ``>``, ``+``, ``~``) and lists joined by ``,``.
    Names are ASCII; escapes, functions (``:not()``, ``:has()``) and pseudo-elements are refused.
    """
    if not selector.strip():
        return "Enter a CSS selector, such as #signup button or a.buy-now."
    if len(selector) > SELECTOR_MAX_LENGTH:
        return f"At most {SELECTOR_MAX_LENGTH} characters."
    try:
        _Selector(selector).read()
    except ValueError as exc:
        return str(exc)
    return None
