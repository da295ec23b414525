"""The API docs page works offline: Swagger UI's scripts, styles and icon come from this server."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')


def test_docs_page_references_only_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert len(assets) >= 4  # icon, stylesheet, bundle, standalone preset
    for url in assets:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
    assert "cdn" not in html.lower()


def test_docs_assets_are_served(client):
    html = client.get("/api/docs/").content.decode()
    for url in ASSET.findall(html):
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 0, url
