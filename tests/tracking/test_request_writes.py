"""A page's writes on the embedded default: the visitor does not wait for the decision log.

The decisions' owners (what ingest attributes an event by) are known before the response
leaves; the SQLite write happens once the server has sent the response, and is never lost.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponse
from django.template import Context, Template
from django.test import RequestFactory

from tests.conftest import DESKTOP
from tracking.decision_owners import decision_owners
from tracking.middleware import VisitorMiddleware
from tracking.models import DecisionLog, Visitor

pytestmark = pytest.mark.django_db

PAGE = Template('{% load personalization %}{% personalize "home-hero" %}{% personalize "cta-banner" %}')


def page(request) -> HttpResponse:
    return HttpResponse(PAGE.render(Context({"request": request})))


def test_the_decision_log_is_written_after_the_response_is_sent_and_owners_before(demo):
    response = VisitorMiddleware(page)(RequestFactory().get("/", HTTP_USER_AGENT=DESKTOP))
    ids = [uuid.UUID(d) for d in re.findall(r'data-tailor-decision="([0-9a-f-]+)"', response.content.decode())]
    visitor = response.headers["X-Tailor-Visitor"]
    assert len(ids) == 2
    assert not DecisionLog.objects.filter(id__in=ids).exists()  # the visitor does not wait for the write
    # An event for these decisions, sent as soon as the page arrives, is attributed without the rows.
    assert decision_owners({i.hex for i in ids}) == {i.hex: visitor for i in ids}

    # What the WSGI server does once the response is sent. As Django's test client does, keep
    # request_finished from closing the test's connection, which holds the test transaction.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)

    assert set(DecisionLog.objects.filter(id__in=ids).values_list("id", flat=True)) == set(ids)
    assert Visitor.objects.filter(id=visitor).exists()


def test_a_request_that_decides_nothing_writes_nothing_after_its_response(demo):
    response = VisitorMiddleware(lambda request: HttpResponse("plain"))(RequestFactory().get("/"))
    assert response._resource_closers == []
