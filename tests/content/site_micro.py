"""A micro-template a test site registers from its own code, by dotted path in ``TAILOR["MICRO_TEMPLATES"]``."""

from content.micro_templates import MicroTemplate

TICKER = MicroTemplate("ticker", "News ticker", "site/micro/promo.html", ("headline", "badge"), icon="time")
NOT_A_TEMPLATE = 42
