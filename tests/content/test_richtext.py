"""Property tests: whatever the body and the visitor's values, rendered rich text stays inside the allow-lists."""

from __future__ import annotations

from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from content.links import link_allowed
from content.richtext import ALLOWED_TAGS, URL_ATTRIBUTES, richtext_render

FRAGMENTS = [
    "<p>", "</p>", "<b>", "</b>", "<a ", "<a href=", "</a>", "<img ", "src=", "href=", "title=", "onerror=",
    "onclick=", "style=", '"', "'", "=", ">", "/>", "<", "</", " ", "\t", "\n", "\x00", "&", "&#106;", "&colon;",
    "&amp;", "javascript:", "data:", "/", "//", "\\", "#", "alert(1)", "<script>", "</script>", "<style>",
    "<iframe>", "</iframe>", "<svg>", "<math>", "<textarea>", "</textarea>", "<!--", "-->", "<![CDATA[", "]]>",
    "<!doctype html>", "</div>", "</body>", "{context.utm_source|", "{context.utm_source}", "{visitor.first_name}",
    "|", "}", "{", "x", "Hi",
]  # fmt: skip

bodies = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)
MARK = "EVIL"
values = st.text(max_size=30).map(
    lambda text: {"context.utm_source": f"javascript:{MARK}{text}", "visitor.first_name": f"<{MARK}>"}
)


@settings(max_examples=400, deadline=None)
@given(body=bodies, visitor=values)
def test_rendered_rich_text_holds_only_allowed_tags_attributes_and_links(body, visitor):
    out = richtext_render(body, visitor)
    for element in BeautifulSoup(out, "html.parser").find_all(True):
        assert element.name in ALLOWED_TAGS
        for name, value in element.attrs.items():
            assert name in ALLOWED_TAGS[element.name]
            text = " ".join(value) if isinstance(value, list) else value
            assert MARK not in text, "a visitor's value reached an attribute"
            if name in URL_ATTRIBUTES:
                assert link_allowed(text)
    # The output is its own fixed point: parsing it again changes nothing, so no reading of it differs.
    assert richtext_render(out, {}) == out or "{" in out
