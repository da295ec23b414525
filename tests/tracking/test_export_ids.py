"""One decision id format: the id in a page's HTML is the id in the decisions API, the events and the export."""

from __future__ import annotations

import re
import time
import uuid

import pytest

pytestmark = pytest.mark.django_db

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_a_decision_id_from_the_page_appears_verbatim_in_the_visitor_export(client, demo):
    html = client.get("/").content.decode()
    decision_id = re.search(r'data-tailor-decision="([^"]+)"', html).group(1)
    assert HEX32.fullmatch(decision_id)
    from_api = client.post("/api/v1/decisions/", {"slots": ["home-hero"]}, content_type="application/json").json()
    api_decision_id = from_api["decisions"][0]["decision_id"]
    assert HEX32.fullmatch(api_decision_id)

    event_id = str(uuid.uuid4())
    events = [
        {"id": event_id, "type": "click", "ts": int(time.time() * 1000), "decision_id": decision_id},
        {"id": str(uuid.uuid4()), "type": "impression", "ts": int(time.time() * 1000), "decision_id": api_decision_id},
    ]
    assert client.post("/api/v1/events/", {"events": events}, content_type="application/json").status_code < 300

    export = client.get("/api/v1/visitors/me/").json()
    exported_ids = [d["id"] for d in export["decisions"]]
    assert decision_id in exported_ids
    assert api_decision_id in exported_ids
    assert all(HEX32.fullmatch(i) for i in exported_ids)
    by_id = {e["id"]: e for e in export["events"]}
    assert by_id[event_id]["decision_id"] == decision_id  # the event's own id stays as the client sent it
    assert {e["decision_id"] for e in export["events"]} == {decision_id, api_decision_id}
