"""The demo shop's page types: home, a shop listing, products, a basket and content pages.

Each body is a StreamField of Tailor blocks. A site of your own uses its own page types;
``content.blocks.page_blocks()`` gives any page body the slot block and the static micro-templates.
The basket is the demo's conversion: adding a shirt is the ``basket`` goal (``demo.seed``), sent by
the tracker from the form's ``data-tailor-goal``; the basket itself lives in the visitor's session.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.http import HttpResponseRedirect
from wagtail.admin.panels import FieldPanel
from wagtail.api import APIField
from wagtail.fields import StreamField
from wagtail.models import Page

from content.blocks import page_blocks

BASKET_SESSION_KEY = "demo_basket"  # product page ids, one per shirt added
BASKET_MAX_ITEMS = 50


class BasePage(Page):
    body = StreamField(page_blocks(), blank=True)
    content_panels = [*Page.content_panels, FieldPanel("body")]
    api_fields = [APIField("body")]

    class Meta:
        abstract = True


class HomePage(BasePage):
    template = "demo/pages/home_page.html"

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["products"] = ProductPage.objects.live().select_related("image").order_by("price")[:4]
        return context


class ShopPage(BasePage):
    """Lists every live product of the site."""

    template = "demo/pages/shop_page.html"

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["products"] = ProductPage.objects.live().select_related("image").order_by("price")
        return context


class ProductPage(BasePage):
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    summary = models.CharField(max_length=255, blank=True)
    image = models.ForeignKey("wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        FieldPanel("price"),
        FieldPanel("image"),
        FieldPanel("body"),
    ]
    template = "demo/pages/product_page.html"

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["basket_page"] = BasketPage.objects.live().first()
        return context


class BasketPage(BasePage):
    """The visitor's basket: POST ``add`` (a product page id) or ``checkout``, then back here (post/redirect/get)."""

    template = "demo/pages/basket_page.html"

    def serve(self, request, *args, **kwargs):
        if request.method == "POST":
            basket = list(request.session.get(BASKET_SESSION_KEY, []))
            ordered = False
            if "checkout" in request.POST and basket:
                basket, ordered = [], True
            elif request.POST.get("add", "").isdigit() and len(basket) < BASKET_MAX_ITEMS:
                product = ProductPage.objects.live().filter(pk=int(request.POST["add"])).first()
                if product is not None:
                    basket.append(product.pk)
            request.session[BASKET_SESSION_KEY] = basket
            return HttpResponseRedirect(self.url + ("?ordered=1" if ordered else ""))
        return super().serve(request, *args, **kwargs)

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        ids = request.session.get(BASKET_SESSION_KEY, [])
        products = ProductPage.objects.live().select_related("image").in_bulk(ids)
        lines: dict[int, dict] = {}
        for pk in ids:
            if pk in products:
                line = lines.setdefault(pk, {"product": products[pk], "quantity": 0, "total": Decimal(0)})
                line["quantity"] += 1
                line["total"] += products[pk].price or Decimal(0)
        context["lines"] = list(lines.values())
        context["total"] = sum((line["total"] for line in lines.values()), Decimal(0))
        context["ordered"] = request.GET.get("ordered") == "1"
        return context


class ContentPage(BasePage):
    template = "demo/pages/content_page.html"
