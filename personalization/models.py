"""Segments: named groups of visitors described by rules, evaluated by the engine.

Each rule is one block in the ``rules`` StreamField (device, browser, time of
day, referrer, UTM, ...); ``match`` says whether all or any must hold. The
stored form is compiled once into an engine ``SegmentSpec`` when the catalog is
built, so requests never query segments. Experiments on slots, model versions,
behaviour clusters and the results rollups live here too.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.safestring import mark_safe
from wagtail import blocks
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.fields import StreamField
from wagtail.models import DraftStateMixin, RevisionMixin
from wagtail.search import index

from tracking.features import FEATURE_LABELS

from .behaviour.wording import distinction_words, distinctions_words
from .engine.context import UTM_PARAMS
from .forms import ExperimentForm

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
FEATURE_CHOICES = list(FEATURE_LABELS.items())
UTM_CHOICES = [(p, f"utm_{p}") for p in UTM_PARAMS]


class LearnedCentresInput(forms.HiddenInput):
    """The centres stay hidden (numbers no editor reads); the sentence beside them says what the field holds, so
    its label is not above an empty space."""

    def render(self, name, value, attrs=None, renderer=None):
        hidden = super().render(name, value, attrs, renderer)
        note = (
            '<p class="help">The scaling and centres of the clustering this segment was made from, kept with the '
            "rule so that membership does not change when a newer clustering runs. Written by “Create segment” on "
            "Behaviour clusters; not editable.</p>"
        )
        return mark_safe(hidden + note)  # noqa: S308 - a fixed sentence around Django's own escaped input


class ClusterCentresBlock(blocks.FieldBlock):
    """A clustering run's scaling and centres as JSON, in a hidden input: written by "Create segment", never typed."""

    def __init__(self, required=False, help_text=None, **kwargs):
        self.field = forms.JSONField(required=required, help_text=help_text, widget=LearnedCentresInput)
        super().__init__(**kwargs)


class ReadOnlyCharBlock(blocks.CharBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.field.widget.attrs["readonly"] = True


class ClusterNumberBlock(blocks.IntegerBlock):
    """Which cluster of the run, numbered as editors see it everywhere ("Cluster 2"); stored as the engine's
    index from 0. Read-only: the number, the summary and the centres were written together."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)
        self.field.widget.attrs["readonly"] = True

    def value_for_form(self, value):
        return None if value is None else int(value) + 1

    def value_from_form(self, value):
        return None if value is None else int(value) - 1


class ClusterRuleBlock(blocks.StructBlock):
    """The behaviour-cluster rule: checked by building the engine's rule, so what saves is what compiles."""

    def clean(self, value):
        from .engine.segments import ClusterRule

        value = super().clean(value)
        if not value.get("centres"):
            raise blocks.StructBlockValidationError(
                non_block_errors=[
                    ValidationError(
                        "A behaviour-cluster rule is made from Behaviour clusters (“Create segment”), not by hand."
                    )
                ]
            )
        try:
            rule = ClusterRule(centres=value["centres"], cluster=0)
        except (ValueError, TypeError) as exc:
            raise blocks.StructBlockValidationError(block_errors={"cluster": ValidationError(str(exc))}) from None
        count = len(rule.centres.centroids)  # type: ignore[union-attr]
        if not 0 <= value["cluster"] < count:
            # In the editors' numbering (from 1), which the field shows; the engine counts from 0.
            message = f"There is no Cluster {value['cluster'] + 1}: that clustering found Clusters 1 to {count}."
            raise blocks.StructBlockValidationError(block_errors={"cluster": ValidationError(message)})
        return value


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
            "cluster",
            ClusterRuleBlock(
                [
                    (
                        "summary",
                        # Read-only: it describes the centre the rule holds, which no edit here changes.
                        ReadOnlyCharBlock(
                            required=False,
                            help_text="What set the cluster apart when it was found; for reading.",
                        ),
                    ),
                    (
                        "cluster",
                        ClusterNumberBlock(
                            help_text="Which cluster of the clustering (Cluster 1 is the largest); a visitor is in "
                            "the cluster whose centre is nearest."
                        ),
                    ),
                    ("centres", ClusterCentresBlock(label="Learned centres")),
                ],
                icon="group",
                label="Behaviour cluster (learned)",
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


class Segment(DraftStateMixin, RevisionMixin, index.Indexed, models.Model):
    """A named group of visitors. Like a slot, the row is the published state and drafts live in revisions:
    every slot that targets a segment serves its live version, so an edit reaches them only when published."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    match = models.CharField(
        max_length=3, choices=[("all", "All rules must match"), ("any", "Any rule may match")], default="all"
    )
    rules = StreamField(rule_blocks(), blank=True)
    is_active = models.BooleanField("active", default=True, help_text="An inactive segment matches nobody.")

    # The edit screen's panels are the viewset's (personalization.admin.segments), beside its reach estimate.
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
    # Thompson exploration's allocation per context cell (engine.model_cells), computed with the model.
    allocations = models.JSONField(default=dict, blank=True)
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


class ClusteringRun(models.Model):
    """One clustering of recently active visitors on their real-time features (daily, by beat).

    ``centres`` is the engine's ``CentroidModel`` in stored form: the scaling and
    every centre, which is what a segment made from one of its clusters carries.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    active_since = models.DateTimeField(help_text="Visitors active since then were clustered.")
    visitors = models.PositiveIntegerField()
    k = models.PositiveSmallIntegerField()
    silhouette = models.FloatField()
    scores = models.JSONField(default=dict, blank=True, help_text="Silhouette score of every k tried.")
    centres = models.JSONField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Clustering #{self.pk} ({self.k} clusters of {self.visitors} visitors)"


class BehaviourCluster(models.Model):
    """One cluster of a run: its size, centre and what sets it apart; and the segment made from it, if any.

    A new run replaces the clusters of earlier runs, except those an editor
    turned into a segment: those are kept so the screen can still show where
    the segment came from.
    """

    run = models.ForeignKey(ClusteringRun, on_delete=models.CASCADE, related_name="clusters")
    index = models.PositiveSmallIntegerField(help_text="0 is the largest cluster of its run.")
    size = models.PositiveIntegerField()
    share = models.FloatField()
    centroid = models.JSONField(default=dict, blank=True, help_text="The centre, in each feature's own units.")
    distinctive = models.JSONField(default=list, blank=True)
    segment = models.OneToOneField(
        Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="behaviour_cluster"
    )

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="one_cluster_per_index_and_run")]

    def __str__(self) -> str:
        return f"{self.label} of clustering #{self.run_id}"

    @property
    def label(self) -> str:
        return f"Cluster {self.index + 1}"

    @property
    def traits(self) -> list[str]:
        """What sets it apart, one line per feature, by the features' labels."""
        return [distinction_words(d) for d in self.distinctive]

    @property
    def description(self) -> str:
        return distinctions_words(self.distinctive)


class Experiment(DraftStateMixin, RevisionMixin, index.Indexed, models.Model):
    """An A/B/n experiment on a slot: a sticky share of its visitors split between some of its variants.

    Like a slot, the row is the published state and drafts live in revisions; only a published
    experiment, between its start and its stop, is served. The first variant is the control.
    ``key`` salts the assignment hash: changing it reshuffles every visitor.
    """

    slot = models.ForeignKey("content.Slot", on_delete=models.CASCADE, related_name="experiments")
    key = models.SlugField(
        max_length=32,
        unique=True,
        help_text="Salts the sticky assignment and names the experiment in the decision log; changing it reshuffles visitors.",
    )
    name = models.CharField(max_length=255)
    hypothesis = models.TextField(blank=True, help_text="What you expect to happen, and why.")
    variants = models.JSONField(default=list, help_text="Variant keys of the slot, the control first.")
    weights = models.JSONField(default=list, blank=True, help_text="Relative traffic per variant; blank: equal.")
    share = models.FloatField(
        "traffic share",
        default=1.0,
        help_text="Share of the slot's visitors in the experiment (above 0, at most 1); the others are served by "
        "the slot's own strategy.",
    )
    primary_metric = models.CharField(max_length=80, default="click_rate")  # goal_value:<a 64-character key>
    guardrail_metrics = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField("start", default=timezone.now)
    ends_at = models.DateTimeField("stop", null=True, blank=True, help_text="Blank: after the maximum duration.")
    minimum_sample = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(1)], help_text="Visitors per variant before results count."
    )
    max_days = models.PositiveSmallIntegerField(
        "maximum duration (days)", default=28, validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    # Multivariate: the base variant, its factors and the combinations generated (personalization.multivariate).
    factors = models.JSONField(default=list, blank=True)

    panels = [
        MultiFieldPanel(
            [FieldPanel("name"), FieldPanel("key"), FieldPanel("slot"), FieldPanel("hypothesis")], heading="Experiment"
        ),
        MultiFieldPanel(
            [FieldPanel("variants"), FieldPanel("weights"), FieldPanel("share")], heading="Variants and traffic"
        ),
        MultiFieldPanel(
            [FieldPanel("base_variant"), FieldPanel("factors")],
            heading="Multivariate (optional): factors over a variant's parameters",
        ),
        MultiFieldPanel([FieldPanel("primary_metric"), FieldPanel("guardrail_metrics")], heading="Metrics"),
        MultiFieldPanel(
            [
                FieldRowPanel([FieldPanel("starts_at"), FieldPanel("ends_at")]),
                FieldRowPanel([FieldPanel("minimum_sample"), FieldPanel("max_days")]),
            ],
            heading="Schedule and sample",
        ),
    ]
    base_form_class = ExperimentForm
    search_fields = [index.SearchField("name"), index.AutocompleteField("name"), index.SearchField("key")]

    class Meta:
        ordering = ["-starts_at", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def stops_at(self):
        """When it stops: its stop time, or the end of its maximum duration if that comes first."""
        limit = self.starts_at + timedelta(days=self.max_days)
        return min(self.ends_at, limit) if self.ends_at else limit

    @property
    def status(self) -> str:
        """draft (never published), scheduled, running, ended (past its stop), or stopped (unpublished)."""
        if not self.live:
            return "stopped" if self.first_published_at else "draft"
        now = timezone.now()
        if now < self.starts_at:
            return "scheduled"
        return "running" if now < self.stops_at else "ended"


class CovariateSums(models.Model):
    """CUPED's sums over a cohort: x is each visitor's prior visits at their first exposure (see the rollup).

    Σx and Σx² of the covariate, and Σxy for each outcome y the results compare (clicked, converted,
    value, seconds visible), so the per-variant means can be adjusted for what the visitors' past
    already predicts without any visitor-level row.
    """

    pre_sum = models.FloatField(default=0.0, help_text="Σ prior visits over the cohort (CUPED's covariate).")
    pre_squares = models.FloatField(default=0.0)
    pre_cross_clicked = models.FloatField(default=0.0, help_text="Σ prior visits × clicked (0 or 1).")
    pre_cross_converted = models.FloatField(default=0.0, help_text="Σ prior visits × converted (0 or 1).")
    pre_cross_value = models.FloatField(default=0.0, help_text="Σ prior visits × value.")
    pre_cross_dwell = models.FloatField(default=0.0, help_text="Σ prior visits × seconds visible.")

    class Meta:
        abstract = True


class VariantDay(CovariateSums):
    """One variant of a slot on one (UTC) day: its traffic, and the cohort of visitors first exposed that day.

    Two groups of figures share the row. Traffic counts the day's own decisions (bots excluded):
    ``decisions``, those seen (``impressions``), clicked, credited with a conversion, and the distinct
    visitors who saw the variant that day. The cohort counts each visitor once, on the day they
    first saw the variant, with their outcomes within the attribution window after that: so a
    window's visitors, conversions, Σvalue and Σvalue² are sums over its days, which is what the
    statistics read. Written only by ``personalization.results.rollup``; no visitor id is kept,
    so the rows outlive the retention purge of the events they summarise.
    """

    slot_key = models.SlugField(max_length=64)
    group = models.CharField(
        max_length=80,
        default="",
        blank=True,
        help_text='Who served it: "" the slot\'s own strategy, "holdout", or "experiment:<key>".',
    )
    variant_key = models.SlugField(max_length=64)
    day = models.DateField()
    decisions = models.PositiveIntegerField(default=0)
    impressions = models.PositiveIntegerField(default=0, help_text="Decisions seen at least once.")
    clicks = models.PositiveIntegerField(default=0, help_text="Decisions clicked.")
    conversions = models.PositiveIntegerField(default=0, help_text="Decisions credited with a conversion.")
    visitors_seen = models.PositiveIntegerField(default=0, help_text="Distinct visitors who saw it this day.")
    visitors = models.PositiveIntegerField(default=0, help_text="Visitors who first saw it this day (the cohort).")
    visitors_clicked = models.PositiveIntegerField(default=0)
    visitors_converted = models.PositiveIntegerField(default=0)
    value_sum = models.FloatField(default=0.0)
    value_squares = models.FloatField(default=0.0)
    dwell_sum = models.FloatField(default=0.0, help_text="Seconds visible, summed over the cohort.")
    dwell_squares = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["slot_key", "day", "variant_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot_key", "group", "variant_key", "day"], name="one_row_per_group_variant_and_day"
            )
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        group = f" ({self.group})" if self.group else ""
        return f"{self.slot_key}{group} → {self.variant_key} on {self.day}"


class GroupDay(CovariateSums):
    """One assignment group of a slot on one (UTC) day: the cohort of visitors first exposed to the slot.

    ``VariantDay``'s cohort figures, with each visitor counted once per slot and group whatever
    the variants they saw: what a holdout compares (its visitors against those served by the
    slot's strategy, over every variant). Written only by ``personalization.results.rollup``.
    """

    slot_key = models.SlugField(max_length=64)
    group = models.CharField(max_length=80, default="", blank=True)
    day = models.DateField()
    visitors = models.PositiveIntegerField(default=0, help_text="Visitors who first saw the slot this day.")
    visitors_clicked = models.PositiveIntegerField(default=0)
    visitors_converted = models.PositiveIntegerField(default=0)
    value_sum = models.FloatField(default=0.0)
    value_squares = models.FloatField(default=0.0)
    dwell_sum = models.FloatField(default=0.0)
    dwell_squares = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["slot_key", "day", "group"]
        constraints = [models.UniqueConstraint(fields=["slot_key", "group", "day"], name="one_row_per_group_and_day")]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.slot_key} ({self.group or 'served'}) on {self.day}"


class BanditArm(models.Model):
    """A bandit's evidence on one variant of a slot, for one segment ("" = the whole slot).

    ``n`` trials (bandit decisions), ``total`` Σ reward and ``squares`` Σ reward² as of
    ``updated_at``: discounted by the slot's ``bandit_discount`` per hour up to then, so floats.
    Written only by ``personalization.learning.bandits`` (the fold of the online counts, or a
    rebuild from the decision log).
    """

    slot_key = models.SlugField(max_length=64)
    segment = models.CharField(max_length=64, blank=True)
    variant_key = models.CharField(max_length=64)
    n = models.FloatField(default=0.0)
    total = models.FloatField(default=0.0)
    squares = models.FloatField(default=0.0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slot_key", "segment", "variant_key"], name="bandit_arm_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.slot_key}/{self.segment or '*'}/{self.variant_key}"


class BanditAllocation(models.Model):
    """The allocation a bandit serves for one (slot, segment): the share of traffic per variant, published.

    Serving reads it from the cache (``personalization.serving.bandits``); this row is its durable
    copy, and what the results dashboard shows with the evidence it came from.
    """

    slot_key = models.SlugField(max_length=64)
    segment = models.CharField(max_length=64, blank=True)
    probabilities = models.JSONField(default=dict)
    version = models.CharField(max_length=40)
    method = models.CharField(max_length=16)
    draws = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slot_key", "segment"], name="bandit_allocation_unique")]

    def __str__(self) -> str:
        return f"{self.slot_key}/{self.segment or '*'} {self.version}"


class GoalDay(models.Model):
    """One goal's conversions among a ``VariantDay`` row's cohort (and ``GroupDay``'s): results for one goal.

    The cohort is ``VariantDay``'s, the same visitors on the same (first-exposure) day, so a
    goal's rate is Σ ``visitors_converted`` here over Σ ``visitors`` there: the share of exposed
    visitors who reached this goal within the attribution window after their first exposure.
    ``conversions`` is traffic, as ``VariantDay.conversions``: decisions of the day credited with
    this goal. A row with ``variant_key`` "" holds the group's cohort over every variant (each
    visitor once, as ``GroupDay``), which a holdout reads. Only rows with a conversion exist.
    Written only by ``personalization.results.rollup``.
    """

    slot_key = models.SlugField(max_length=64)
    group = models.CharField(max_length=80, default="", blank=True)
    variant_key = models.CharField(max_length=64, blank=True, help_text='"": every variant of the group (GroupDay).')
    day = models.DateField()
    goal = models.CharField(max_length=64, help_text="The goal's key (props.goal of its conversions).")
    conversions = models.PositiveIntegerField(default=0, help_text="Decisions credited with this goal.")
    visitors_converted = models.PositiveIntegerField(default=0, help_text="Cohort visitors who reached this goal.")
    value_sum = models.FloatField(default=0.0, help_text="This goal's value, summed over the cohort.")
    value_squares = models.FloatField(default=0.0, help_text="Σ per-visitor value², zero for those without.")
    pre_cross_converted = models.FloatField(default=0.0, help_text="Σ prior visits × reached this goal (CUPED).")
    pre_cross_value = models.FloatField(default=0.0, help_text="Σ prior visits × this goal's value (CUPED).")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["slot_key", "day", "goal", "variant_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot_key", "group", "variant_key", "day", "goal"], name="one_row_per_goal_variant_and_day"
            )
        ]
        indexes = [models.Index(fields=["day"]), models.Index(fields=["slot_key", "goal", "day"])]

    def __str__(self) -> str:
        return f"{self.slot_key} → {self.variant_key or 'every variant'} on {self.day}: {self.goal}"
