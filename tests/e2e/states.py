"""Every state a page of the shop can be in, walked in one browser window.

The accessibility and mobile tests run their checks on each state this
yields, at desktop and phone sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.pages import (
    change_status,
    log_in,
    new_customer,
    notify,
    open_bell,
    orders_of,
    wait_connected,
)
from tests.support.daphne import LiveStack

HUBS = re.compile(r".*/hubs/.*")


def server_error_page(shop: LiveStack) -> str:
    """The HTML of the 500 page, rendered by Django as handler500 renders it."""
    return shop.shell(
        "from django.test import RequestFactory\n"
        "from django.views.defaults import server_error\n"
        "print(server_error(RequestFactory().get('/')).content.decode())"
    )


def walk(contexts, shop: LiveStack, viewport: dict) -> Iterator[tuple[str, Page]]:
    """Yield (state name, page) for every page state, desktop or phone."""
    context: BrowserContext = contexts(viewport=viewport)
    page = context.new_page()
    page.goto(f"{shop.url}/accounts/login/")
    yield "login", page

    page.goto(f"{shop.url}/no-such-page/")
    yield "404 (signed out)", page

    html = server_error_page(shop)
    context.route(
        "**/broken-page/",
        lambda route: route.fulfill(status=500, body=html, content_type="text/html"),
    )
    page.goto(f"{shop.url}/broken-page/")
    yield "500", page

    empty = new_customer(shop, orders=0)
    page = log_in(context, shop, empty)
    wait_connected(page)
    yield "orders, none yet", page
    page.goto(f"{shop.url}/notifications/")
    wait_connected(page)
    yield "notifications, none yet", page
    open_bell(page)
    yield "bell open, empty", page
    page.keyboard.press("Escape")
    page.click("form[action$='/logout/'] button")

    username = new_customer(shop, orders=3, notifications=4)
    (pk, number), *_ = orders_of(shop, username)
    change_status(shop, number, "shipped", "Handed to the courier", progress=60)
    page = log_in(context, shop, username)
    wait_connected(page)
    yield "orders", page

    page.goto(f"{shop.url}/notifications/")
    wait_connected(page)
    page.locator(".notification").first.get_by_role("button").click()
    expect(page.locator(".notification.is-read")).to_have_count(1)
    yield "notifications, one read", page

    page.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(page)
    yield "order", page
    open_bell(page)
    yield "order, bell open", page
    page.keyboard.press("Escape")

    notify(shop, username, "While you watch")
    change_status(shop, number, "delivered", "Left with a neighbour")
    expect(page.locator("[data-completion-dialog]")).to_be_visible()
    yield "order, completion dialog", page
    page.locator("[data-completion-dialog] button").click()
    expect(page.locator("[data-order-status]")).to_have_text("Delivered")
    yield "order, delivered", page

    page.goto(f"{shop.url}/orders/999999/")
    yield "404 (signed in)", page

    context.route(HUBS, lambda route: route.abort())
    page.goto(f"{shop.url}/orders/{pk}/")
    expect(page.locator("body")).to_have_attribute("data-realtime-state", "disconnected")
    yield "order, live updates paused", page
    context.unroute(HUBS)
