"""The demo site's page types: a home page, product pages and content pages, each a StreamField of Tailor blocks.

A site of your own uses its own page types; ``content.blocks.page_blocks()`` gives any
page body the slot block and the static micro-templates.
"""

from __future__ import annotations

from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.api import APIField
from wagtail.fields import StreamField
from wagtail.models import Page

from content.blocks import page_blocks


class BasePage(Page):
    body = StreamField(page_blocks(), blank=True)
    content_panels = [*Page.content_panels, FieldPanel("body")]
    api_fields = [APIField("body")]

    class Meta:
        abstract = True


class HomePage(BasePage):
    template = "demo/pages/home_page.html"


class ProductPage(BasePage):
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    content_panels = [*BasePage.content_panels, FieldPanel("price")]
    template = "demo/pages/product_page.html"


class ContentPage(BasePage):
    template = "demo/pages/content_page.html"
