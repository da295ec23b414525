"""Visitors, the decision log, events and conversion goals.

The decision log records what was shown, to whom, by which policy and with
which propensity. It stores slot key, variant key and revision id as values,
not foreign keys into content: the log outlives what it logs and appends stay
cheap.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from wagtail.admin.panels import FieldPanel
from wagtail.models import DraftStateMixin, RevisionMixin


class Visitor(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(db_index=True)
    visit_count = models.PositiveIntegerField(default=1)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return str(self.id)


class DecisionLog(models.Model):
    id = models.UUIDField(primary_key=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
    visitor_id = models.UUIDField(null=True, blank=True, db_index=True)
    slot_key = models.CharField(max_length=64)
    variant_key = models.CharField(max_length=64)
    revision_id = models.BigIntegerField(null=True, blank=True)
    policy = models.CharField(max_length=32)
    policy_version = models.CharField(max_length=32)
    propensity = models.FloatField()
    reason = models.CharField(max_length=100, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # Shown to a crawler: kept for the record, never a training row or a result.
    is_bot = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["slot_key", "created_at"])]

    def __str__(self) -> str:
        return f"{self.slot_key} → {self.variant_key}"


class Event(models.Model):
    """One thing a visitor did, as the tracker reported it. Append-only; the id is the client's."""

    class Type(models.TextChoices):
        IMPRESSION = "impression"
        CLICK = "click"
        HOVER = "hover"
        SCROLL = "scroll"
        DWELL = "dwell"
        CONVERSION = "conversion"
        CUSTOM = "custom"

    id = models.UUIDField(primary_key=True, editable=False)
    visitor_id = models.UUIDField()
    decision_id = models.UUIDField(null=True, blank=True, db_index=True)
    type = models.CharField(max_length=16, choices=Type.choices)
    ts = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField()
    # Set when the writer builds the row: stored_at - received_at is the ingest-to-database lag.
    stored_at = models.DateTimeField(default=timezone.now, editable=False)
    value = models.FloatField(null=True, blank=True)
    props = models.JSONField(default=dict, blank=True)
    is_bot = models.BooleanField(default=False)
    ip_prefix = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["visitor_id", "ts"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Consent(models.Model):
    """What a visitor agreed to; absent means the site's default (implied or required)."""

    visitor_id = models.UUIDField(primary_key=True)
    analytics = models.BooleanField()
    personalization = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.visitor_id}: analytics={self.analytics} personalization={self.personalization}"


class DeadLetter(models.Model):
    """A record the database refused, set aside so that the rest of its batch could be written.

    ``payload`` is the record as ASCII-escaped JSON, so that it is storable whatever it
    holds (a NUL, a lone surrogate); ``reason`` is the database's error. An operator
    inspects them with ``manage.py dead_letters``, and replays them once the cause is fixed.
    """

    class Kind(models.TextChoices):
        EVENT = "event"
        DECISION = "decision"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.TextField()
    payload = models.TextField()
    replayed_at = models.DateTimeField(null=True, blank=True)
    # Whose record it is, so that erasure and export reach dead letters too.
    visitor_id = models.UUIDField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}: {self.reason[:60]}"


class Goal(DraftStateMixin, RevisionMixin, models.Model):
    """A conversion an editor defines without code: a page reached, an element clicked, or an event the site sends.

    Like slots, the row is the published state and drafts live in revisions; the tracker and ingest only
    ever see published, active goals (``tracking.goals``). ``match`` is read according to ``kind``.
    """

    class Kind(models.TextChoices):
        PAGE = "page", "Page visited"
        CLICK = "click", "Element clicked"
        EVENT = "event", 'Event sent by the site (Tailor.goal("key"))'

    key = models.SlugField(
        max_length=64,
        unique=True,
        help_text='What conversions are recorded under (props.goal), and what an event goal\'s site sends: Tailor.goal("signup").',
    )
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PAGE)
    match = models.CharField(
        max_length=200,
        blank=True,
        help_text=(
            "Page: the path, such as /checkout/thanks/ (exact), or with * for any characters: /checkout/thanks* "
            "or /shop/*/done/ (the path only, no ?query or #fragment; at most 5 *). "
            "Click: a CSS selector, such as #signup button, a.buy-now or [data-plan=pro] "
            "(names, #id, .class, [attribute], simple pseudo-classes such as :first-child, and the combinators "
            'space > + ~). Event: leave blank; the site calls Tailor.goal("<key>").'
        ),
    )
    value = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-(2**53)), MaxValueValidator(2**53)],
        help_text="What one conversion is worth (such as revenue). Blank: no value.",
    )
    site_value = models.BooleanField(
        default=False,
        verbose_name="Value sent by the site",
        help_text='Event goals: take the value the site sends, Tailor.goal("order", 49.90), over the value above.',
    )
    is_active = models.BooleanField(default=True, help_text="Inactive goals are not tracked, even when published.")

    panels = [
        FieldPanel("name"),
        FieldPanel("key"),
        FieldPanel("kind"),
        FieldPanel("match"),
        FieldPanel("value"),
        FieldPanel("site_value"),
        FieldPanel("is_active"),
    ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        from .goal_rules import css_selector_problem, path_pattern_problem

        errors: dict[str, str] = {}
        if self.kind == self.Kind.PAGE:
            problem = path_pattern_problem(self.match)
        elif self.kind == self.Kind.CLICK:
            problem = css_selector_problem(self.match)
        else:
            problem = "Leave blank: the site sends the goal's key." if self.match else None
        if problem:
            errors["match"] = problem
        if self.site_value and self.kind != self.Kind.EVENT:
            errors["site_value"] = "Only an event goal's site can send a value."
        if errors:
            raise ValidationError(errors)
