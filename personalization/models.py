"""Segments: named groups of visitors described by rules, evaluated by the engine.

Each rule is one block in the ``rules`` StreamField (device, browser, time of
day, referrer, UTM, ...); ``match`` says whether all or any must hold. The
stored form is compiled once into an engine ``SegmentSpec`` when the catalog is
built, so requests never query segments.
"""

from __future__ import annotations

from django.db import models
from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.fields import StreamField
from wagtail.search import index

DEVICE_CHOICES = [("desktop", "Desktop"), ("mobile", "Mobile"), ("tablet", "Tablet"), ("bot", "Bot")]
DAY_CHOICES = [(str(i), day) for i, day in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])]
NUMBER_OPERATORS = [
    ("gte", "at least"),
    ("gt", "more than"),
    ("eq", "exactly"),
    ("lte", "at most"),
    ("lt", "fewer than"),
]
TEXT_OPERATORS = [("equals", "equals"), ("contains", "contains"), ("starts_with", "starts with")]
FEATURE_CHOICES = [
    ("clicks_last_hour", "Clicks in the last hour"),
    ("sessions_7d", "Visits in the last 7 days"),
    ("avg_scroll_depth", "Average scroll depth (%)"),
    ("avg_dwell_s", "Average time on page (s)"),
    ("seconds_since_last_visit", "Seconds since the last visit"),
    ("conversions_30d", "Conversions in the last 30 days"),
    ("deal_clicks_ratio", "Share of clicks on deals (0–1)"),
]
UTM_CHOICES = [(p, f"utm_{p}") for p in ("source", "medium", "campaign", "term", "content")]


def rule_blocks() -> list[tuple[str, blocks.Block]]:
    return [
        (
            "device",
            blocks.StructBlock(
                [("devices", blocks.MultipleChoiceBlock(choices=DEVICE_CHOICES))],
                icon="mobile-alt",
                label="Device type",
            ),
        ),
        (
            "browser",
            blocks.StructBlock(
                [("families", blocks.CharBlock(help_text="Comma-separated, e.g. Chrome, Firefox, Mobile Safari"))],
                icon="globe",
                label="Browser",
            ),
        ),
        (
            "os",
            blocks.StructBlock(
                [("families", blocks.CharBlock(help_text="Comma-separated, e.g. iOS, Android, Windows, Mac OS X"))],
                icon="desktop",
                label="Operating system",
            ),
        ),
        (
            "time_of_day",
            blocks.StructBlock(
                [
                    ("start_hour", blocks.IntegerBlock(min_value=0, max_value=23)),
                    (
                        "end_hour",
                        blocks.IntegerBlock(
                            min_value=0, max_value=24, help_text="Exclusive; a window past midnight wraps (22 → 6)."
                        ),
                    ),
                ],
                icon="time",
                label="Time of day",
            ),
        ),
        (
            "day_of_week",
            blocks.StructBlock(
                [("days", blocks.MultipleChoiceBlock(choices=DAY_CHOICES))], icon="date", label="Day of week"
            ),
        ),
        (
            "referrer",
            blocks.StructBlock(
                [
                    ("host", blocks.CharBlock(required=False, help_text="e.g. google.com (subdomains match too)")),
                    (
                        "pattern",
                        blocks.CharBlock(required=False, help_text="Glob on the full referrer URL, e.g. *newsletter*"),
                    ),
                ],
                icon="link",
                label="Referrer",
            ),
        ),
        (
            "utm",
            blocks.StructBlock(
                [
                    ("param", blocks.ChoiceBlock(choices=UTM_CHOICES)),
                    ("operator", blocks.ChoiceBlock(choices=TEXT_OPERATORS, default="equals")),
                    ("value", blocks.CharBlock()),
                ],
                icon="tag",
                label="UTM parameter",
            ),
        ),
        (
            "query_param",
            blocks.StructBlock(
                [
                    ("name", blocks.CharBlock()),
                    ("value", blocks.CharBlock(required=False, help_text="Blank: the parameter is present")),
                ],
                icon="search",
                label="Query parameter",
            ),
        ),
        (
            "country",
            blocks.StructBlock(
                [("countries", blocks.CharBlock(help_text="Comma-separated ISO codes, e.g. NL, BE, DE"))],
                icon="site",
                label="Country",
            ),
        ),
        (
            "logged_in",
            blocks.StructBlock(
                [
                    (
                        "logged_in",
                        blocks.BooleanBlock(
                            required=False, default=True, help_text="Ticked: logged-in visitors; unticked: anonymous"
                        ),
                    )
                ],
                icon="user",
                label="Logged in",
            ),
        ),
        (
            "visit_count",
            blocks.StructBlock(
                [
                    ("operator", blocks.ChoiceBlock(choices=NUMBER_OPERATORS, default="gte")),
                    ("value", blocks.IntegerBlock(min_value=0)),
                ],
                icon="order",
                label="Visit count",
            ),
        ),
        (
            "behaviour",
            blocks.StructBlock(
                [
                    ("feature", blocks.ChoiceBlock(choices=FEATURE_CHOICES)),
                    ("operator", blocks.ChoiceBlock(choices=NUMBER_OPERATORS, default="gte")),
                    ("value", blocks.FloatBlock()),
                ],
                icon="pick",
                label="Behaviour (real-time)",
            ),
        ),
        (
            "returning",
            blocks.StructBlock(
                [
                    (
                        "returning",
                        blocks.BooleanBlock(
                            required=False, default=True, help_text="Ticked: returning visitors; unticked: first visit"
                        ),
                    )
                ],
                icon="repeat",
                label="New or returning",
            ),
        ),
    ]


class Segment(index.Indexed, models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    match = models.CharField(
        max_length=3, choices=[("all", "All rules must match"), ("any", "Any rule may match")], default="all"
    )
    rules = StreamField(rule_blocks(), blank=True)
    is_active = models.BooleanField("active", default=True, help_text="An inactive segment matches nobody.")

    panels = [
        FieldPanel("name"),
        FieldPanel("key"),
        FieldPanel("description"),
        FieldPanel("match"),
        FieldPanel("rules"),
        FieldPanel("is_active"),
    ]
    search_fields = [index.SearchField("name"), index.AutocompleteField("name")]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One trained reward model for a slot: its LightGBM text, feature schema, metrics and offline estimates.

    At most one version per slot is *active* (served); newer ones start as
    *candidates* and are promoted only when offline evaluation says they are
    not worse than what is serving; any older version can be re-activated.
    """

    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        ACTIVE = "active"
        RETIRED = "retired"

    slot_key = models.SlugField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    model_text = models.TextField()
    metrics = models.JSONField(default=dict, blank=True)
    estimates = models.JSONField(default=dict, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Why it was or was not promoted.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot_key"], condition=models.Q(status="active"), name="one_active_model_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.slot_key} model #{self.pk} ({self.status})"
