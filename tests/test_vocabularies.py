"""Each vocabulary the apps share is spelled out in one module, the one that owns it.

A copy drifts: a feature added to the fold but not to the segment editor's choices, an event type
accepted by ingest but missing from the API documentation, a cache key renamed in one module while
erasure still deletes the old one. These tests read the plugin's source (``ast``) and name every
module that spells out (most of) a vocabulary, or a ``tailor:`` cache key, outside its home.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.test_layers import REPO_ROOT, source_files

FEATURE_NAMES = (
    "clicks_last_hour",
    "sessions_7d",
    "avg_scroll_depth",
    "avg_dwell_s",
    "seconds_since_last_visit",
    "conversions_30d",
    "deal_clicks_ratio",
)
EVENT_TYPES = ("impression", "click", "hover", "scroll", "dwell", "conversion", "custom")
UTM_NAMES = ("source", "medium", "campaign", "term", "content")
CACHE_KEY = re.compile(r"tailor:(?!\s)")


def _words(tree: ast.AST) -> set[str]:
    """The strings a module spells: string constants, and the field names a class body declares."""
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words.add(node.value)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                words.update(t.id for t in targets if isinstance(t, ast.Name))
    return words


def modules_spelling(vocabulary: set[str]) -> list[str]:
    """The plugin modules that spell out five or more words of ``vocabulary``: a definition or a copy of it.

    Using a few of its words is fine (the fold reads ``"click"``, a slot's reward is a ``"conversion"``).
    """
    found = []
    for path in source_files(REPO_ROOT):
        spelled = _words(ast.parse(path.read_text())) & vocabulary
        if len(spelled) >= 5:
            found.append(str(path.relative_to(REPO_ROOT)))
    return found


def test_the_vocabularies_here_match_the_code():
    from personalization.engine.context import UTM_PARAMS
    from tracking.features import FEATURE_NAMES as features
    from tracking.models import Event

    assert features == FEATURE_NAMES
    assert tuple(Event.Type.values) == EVENT_TYPES
    assert UTM_PARAMS == UTM_NAMES


@pytest.mark.parametrize(
    ("vocabulary", "home"),
    [
        (set(FEATURE_NAMES), "tracking/features.py"),
        (set(EVENT_TYPES), "tracking/models.py"),
        ({*UTM_NAMES, *(f"utm_{name}" for name in UTM_NAMES)}, "personalization/engine/context.py"),
    ],
    ids=["feature names", "event types", "UTM parameters"],
)
def test_a_vocabulary_is_spelled_out_in_one_module(vocabulary, home):
    assert modules_spelling(vocabulary) == [home]


def cache_key_spellings(root: Path) -> dict[str, list[str]]:
    """Each ``tailor:`` cache key family (``tailor:visit``), with every place its name is written."""
    places: dict[str, list[str]] = defaultdict(list)
    for path in source_files(root):
        tree = ast.parse(path.read_text())
        parts_of_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
                text, whole = node.values[0].value, len(node.values) == 1
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts_of_fstrings:
                text, whole = node.value, True
            else:
                continue
            if not CACHE_KEY.match(text):
                continue
            # A key whose family is itself computed (f"tailor:{kind}:...") has no family to find it by.
            family = text.split(":")[1] if whole or text.count(":") > 1 else "{computed}"
            places[f"tailor:{family}"].append(f"{path.relative_to(root)}:{node.lineno}")
    return dict(places)


def test_every_cache_key_family_is_built_in_one_place():
    """One builder per family (``features_key``, ``visit_key``...), which every reader, writer and erasure calls."""
    spelled = cache_key_spellings(REPO_ROOT)
    copies = {family: places for family, places in spelled.items() if len(places) > 1 or "{computed}" in family}
    assert not copies, f"cache key families spelled out in more than one place: {copies}"
    assert {"tailor:features", "tailor:visit", "tailor:consent", "tailor:scores"} <= spelled.keys()


def test_the_cache_key_scan_finds_copies(tmp_path):
    (tmp_path / "tracking").mkdir()
    (tmp_path / "tracking" / "a.py").write_text(
        'def visit_key(v):\n    return f"tailor:visit:{v}"\n\n\nBUFFER = "tailor:buffer"\nNOTE = "tailor: a note"\n'
    )
    (tmp_path / "tracking" / "b.py").write_text(
        'def erase(v):\n    return [f"tailor:visit:{v}", *(f"tailor:{k}:{v}" for k in ("a", "b"))]\n'
    )
    assert cache_key_spellings(tmp_path) == {
        "tailor:visit": ["tracking/a.py:2", "tracking/b.py:2"],
        "tailor:buffer": ["tracking/a.py:5"],
        "tailor:{computed}": ["tracking/b.py:2"],
    }
