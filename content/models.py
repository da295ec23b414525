"""Slots and their micro-variants.

A ``Slot`` is a named place on a page; its ``Variant`` rows are the
alternatives, each a micro-template with parameters. Slots use Wagtail's own
draft, revision, locking and audit machinery: the row (with its variants) is
always the *published* state, drafts live in revisions, and only the published
state is ever served.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, MultiFieldPanel
from wagtail.fields import StreamField
from wagtail.models import DraftStateMixin, LockableMixin, Orderable, RevisionMixin
from wagtail.search import index

from .blocks import RuleBlock
from .fields import MicroTemplateField
from .forms import LEARNING, SlotForm, shown_when
from .panels import TargetingSummaryPanel

STRATEGY_CHOICES = [
    ("fixed", "Fixed: always the default variant"),
    ("rules", "Rules: segment → variant, first match wins"),
    ("split", "Weighted split: sticky per visitor"),
    ("model", "Model: LightGBM picks per visitor, with exploration"),
    ("bandit", "Bandit: Thompson sampling moves traffic to what works, per segment"),
]
EXPLORATION_CHOICES = [
    ("epsilon", "Epsilon-greedy: the best variant, and a random one a share of the time"),
    ("softmax", "Softmax: in proportion to predicted reward, with a floor for every variant"),
    ("igw", "Inverse-gap weighting (SquareCB): the further a variant's score from the best, the less it is shown"),
    ("thompson", "Thompson sampling per kind of visitor: the model's prediction corrected by what each kind did"),
]
REWARD_CHOICES = [
    ("click", "Click"),
    ("conversion", "Conversion"),
    ("weighted", "Weighted: clicks and conversions, by the weights below"),
    ("value", "Conversion value (bandit strategy: a Gaussian model of value per visitor)"),
]
# Context fields a bandit can learn per combination of; personalization.engine.bandits.CELL_FIELDS reads them.
BANDIT_CONTEXT_CHOICES = [
    ("device", "Device"),
    ("browser", "Browser"),
    ("os", "Operating system"),
    ("country", "Country"),
    ("referrer_host", "Referring site"),
    ("utm_source", "Campaign source (utm_source)"),
    ("utm_medium", "Campaign medium (utm_medium)"),
    ("utm_campaign", "Campaign name (utm_campaign)"),
    ("is_returning", "New or returning"),
    ("is_authenticated", "Signed in or not"),
]
BANDIT_CONTEXT_MAX = 3
GUARDRAIL_ACTION_CHOICES = [
    ("act", "Act: pause a variant that significantly hurts, or roll back the revision that began the harm"),
    ("report", "Report only (dry run): tell editors, change nothing"),
    ("off", "Off"),
]


def guardrail_metrics_default() -> list[str]:
    return ["click_rate"]


TRIGGER_CHOICES = [
    ("load", "On page load"),
    ("scroll", "When the visitor has scrolled this far (%)"),
    ("dwell", "After this many seconds on the page"),
    ("exit", "On exit intent"),
]


class Slot(DraftStateMixin, LockableMixin, RevisionMixin, index.Indexed, ClusterableModel):
    key = models.SlugField(max_length=64, unique=True, help_text='Used in templates: {% personalize "home-hero" %}.')
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    strategy = models.CharField(max_length=32, choices=STRATEGY_CHOICES, default="fixed")
    default_variant = models.SlugField(
        max_length=64,
        blank=True,
        help_text="Key of the variant shown when nothing else applies. Blank: the first live variant.",
    )
    exploration = models.CharField(max_length=8, choices=EXPLORATION_CHOICES, default="epsilon")
    exploration_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Model strategy: the share of traffic that explores (every live variant keeps at least rate/variants).",
    )
    temperature = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.001), MaxValueValidator(10.0)],
        help_text="Softmax exploration: lower concentrates traffic on the best variant, higher spreads it.",
    )
    reward = models.CharField(
        max_length=12, choices=REWARD_CHOICES, default="click", help_text="Model strategy: what the model predicts."
    )
    click_weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0)], help_text="Weighted reward: what a click is worth."
    )
    conversion_weight = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.0)], help_text="Weighted reward: what a conversion is worth."
    )
    trigger = models.CharField(
        max_length=8,
        choices=TRIGGER_CHOICES,
        default="load",
        help_text="When to choose: on page load, or later in the visit (the default shows until then).",
    )
    trigger_value = models.PositiveSmallIntegerField(
        default=0, help_text="Scroll depth in % for 'scroll', seconds for 'dwell'; unused otherwise."
    )
    holdout_share = models.FloatField(
        "holdout share",
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text=(
            "Share of visitors (0 to 0.5, e.g. 0.05 for 5 %) who always see the default variant, whatever the"
            " strategy, so the live uplift of personalization is measured against doing nothing. Sticky per visitor."
        ),
    )
    igw_gamma = models.FloatField(
        "IGW gamma",
        default=100.0,
        validators=[MinValueValidator(1.0), MaxValueValidator(100000.0)],
        help_text="Inverse-gap weighting: higher shows variants that score below the best less often.",
    )
    retrain_every = models.PositiveIntegerField(
        default=500,
        help_text=(
            "Model strategy: retrain after this many new decisions with a known outcome (0: only on the hourly"
            " schedule)."
        ),
    )
    bandit_floor = models.FloatField(
        "floor per variant",
        default=0.01,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.2)],
        help_text="Bandit: the least share of traffic every live variant keeps (0.01: 1 %).",
    )
    bandit_discount = models.FloatField(
        "discount per hour",
        default=1.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Bandit: how much an hour-old observation still counts (1: never fades; 0.99: halves in ~3 days).",
    )
    bandit_top_two = models.BooleanField(
        "top-two sampling",
        default=False,
        help_text="Bandit: spend more traffic telling the two best variants apart (top-two Thompson sampling).",
    )
    bandit_context = models.JSONField(
        "learn per combination of",
        default=list,
        blank=True,
        help_text=(
            "Bandit: learn apart for every combination of these (at most 3), e.g. device and campaign source"
            " when the favourite depends on both. Rule segments still come first."
        ),
    )
    guardrail_action = models.CharField("guardrails", max_length=8, choices=GUARDRAIL_ACTION_CHOICES, default="act")
    guardrail_metrics = models.JSONField(
        default=guardrail_metrics_default,
        blank=True,
        help_text="Metrics on which a variant must not do significantly worse than the default variant.",
    )
    guardrail_alpha = models.FloatField(
        "guardrail significance",
        default=0.05,
        validators=[MinValueValidator(0.001), MaxValueValidator(0.2)],
        help_text="The chance of pausing a variant that does no harm (always valid: checking often does not raise it).",
    )
    guardrail_min_drop = models.FloatField(
        "smallest harm",
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.9)],
        help_text="Relative drop below which nothing is done (0.1: only a drop of more than 10 % counts).",
    )
    cap_per_day = models.PositiveSmallIntegerField(
        default=0, help_text="Show one variant to one visitor at most this many times a day (0: no cap)."
    )
    cap_per_visit = models.PositiveSmallIntegerField(
        default=0, help_text="Show one variant to one visitor at most this many times a visit (0: no cap)."
    )
    novelty_after = models.PositiveSmallIntegerField(
        default=0,
        help_text="After this many views of a variant without a click, show it less to that visitor (0: off).",
    )
    novelty_decay = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Each further view without a click multiplies the variant's chance for that visitor by this.",
    )
    rules = StreamField(
        [("rule", RuleBlock())],
        blank=True,
        help_text="Checked top to bottom: the first segment the visitor is in decides the variant.",
    )

    # Each setting shows only for the strategies (and options) that read it: see ``content.forms.shown_when``.
    panels = [
        MultiFieldPanel(
            [FieldPanel("name"), FieldPanel("key"), FieldPanel("description")],
            heading="Slot",
        ),
        MultiFieldPanel(
            [
                FieldPanel("strategy"),
                FieldPanel("default_variant"),
                # The bandit learns per rule segment; the rules strategy serves the rule's variant.
                FieldPanel("rules", attrs=shown_when(strategy=("rules", "bandit"))),
                FieldPanel("exploration", attrs=shown_when(strategy="model")),
                FieldRowPanel(
                    [
                        FieldPanel("exploration_rate", attrs=shown_when(strategy="model")),
                        FieldPanel("temperature", attrs=shown_when(strategy="model", exploration="softmax")),
                        FieldPanel("igw_gamma", attrs=shown_when(strategy="model", exploration="igw")),
                    ]
                ),
                FieldPanel("reward", attrs=shown_when(strategy=LEARNING)),
                FieldRowPanel(
                    [
                        FieldPanel("click_weight", attrs=shown_when(strategy=LEARNING, reward="weighted")),
                        FieldPanel("conversion_weight", attrs=shown_when(strategy=LEARNING, reward="weighted")),
                    ]
                ),
                FieldRowPanel(
                    [
                        FieldPanel("trigger"),
                        FieldPanel("trigger_value", attrs=shown_when(trigger=("scroll", "dwell"))),
                    ]
                ),
                # Fixed always serves the default: a holdout on the default would measure nothing.
                FieldPanel("holdout_share", attrs=shown_when(strategy=("split", "rules", "model", "bandit"))),
            ],
            heading="How a variant is chosen",
        ),
        MultiFieldPanel(
            [
                FieldPanel("retrain_every", attrs=shown_when(strategy="model")),
                FieldRowPanel(
                    [
                        FieldPanel("bandit_floor", attrs=shown_when(strategy="bandit")),
                        FieldPanel("bandit_discount", attrs=shown_when(strategy="bandit")),
                        FieldPanel("bandit_top_two", attrs=shown_when(strategy="bandit")),
                    ]
                ),
                FieldPanel("bandit_context", attrs=shown_when(strategy="bandit")),
            ],
            heading="Learning while serving: model retraining and bandit",
            classname="collapsed",
            attrs=shown_when(strategy=LEARNING),
        ),
        MultiFieldPanel(
            [
                FieldPanel("guardrail_action"),  # long choices: a row of its own, not squeezed beside two numbers
                FieldRowPanel([FieldPanel("guardrail_alpha"), FieldPanel("guardrail_min_drop")]),
                FieldPanel("guardrail_metrics"),
                FieldRowPanel([FieldPanel("cap_per_day"), FieldPanel("cap_per_visit")]),
                FieldRowPanel([FieldPanel("novelty_after"), FieldPanel("novelty_decay")]),
            ],
            heading="Guardrails and frequency caps",
            classname="collapsed",
        ),
        TargetingSummaryPanel(heading="Overview: variants and targeting (as saved)"),
        InlinePanel("variants", heading="Variants", label="Variant", min_num=1),
    ]
    base_form_class = SlotForm
    search_fields = [index.SearchField("name"), index.AutocompleteField("name"), index.SearchField("key")]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Variant(Orderable):
    slot = ParentalKey(Slot, related_name="variants", on_delete=models.CASCADE)
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=255)
    weight = models.PositiveIntegerField(default=1, help_text="Share of traffic under a weighted split.")
    is_paused = models.BooleanField("paused", default=False, help_text="A paused variant is never served.")
    params = MicroTemplateField(min_num=1, max_num=1, verbose_name="micro-template and parameters")

    panels = [
        FieldPanel("name"),
        FieldPanel("key"),
        FieldPanel("weight", attrs=shown_when(strategy="split")),  # only the weighted split reads weights
        FieldPanel("is_paused"),
        FieldPanel("params"),
    ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def template_key(self) -> str:
        return self.params[0].block_type if self.params else ""

    @property
    def status(self) -> str:
        return "paused" if self.is_paused else "live"
