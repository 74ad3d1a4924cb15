"""Polish: error pages, ageing times, one time format, colours and widths that hold."""

from __future__ import annotations

import base64
import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import (
    DESKTOP,
    PHONE,
    change_status,
    log_in,
    new_customer,
    orders_of,
    wait_connected,
)
from tests.e2e.states import server_error_page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHORT = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{2}:\d{2}$")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_404_page_has_the_site_header_and_a_way_back(shop, contexts, viewport):
    page = log_in(contexts(viewport=viewport), shop, "bob")

    response = page.goto(f"{shop.url}/orders/999999/")

    assert response.status == 404
    expect(page.locator(".site-header")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("find that page$"))
    page.get_by_role("link", name="Go to your orders").click()
    page.wait_for_url(re.compile(r".*/orders/$"))


def test_500_page_has_the_site_header_and_a_way_back(shop, contexts):
    context = contexts()
    html = server_error_page(shop)
    context.route(
        "**/broken-page/",
        lambda route: route.fulfill(status=500, body=html, content_type="text/html"),
    )
    page = context.new_page()
    page.goto(f"{shop.url}/broken-page/")
    expect(page.locator(".site-header .brand")).to_have_text("Shop")
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong on our side")
    page.get_by_role("link", name="Go to your orders").click()
    page.wait_for_url(re.compile(r".*/accounts/login/\?next=/orders/$"))


def order_page(contexts, shop, **options):
    username = new_customer(shop)
    (pk, number), *_ = orders_of(shop, username)
    context = contexts()
    page = log_in(context, shop, username)
    if options.get("clock"):
        page.clock.install()
    page.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(page)
    return number, page


def test_last_update_ages(shop, contexts):
    number, page = order_page(contexts, shop, clock=True)
    updated = page.locator("[data-order-updated]")

    change_status(shop, number, "processing", "Packing")
    expect(updated).to_have_text("just now")
    page.clock.fast_forward("02:10")

    expect(updated).to_have_text("2 minutes ago")


def test_live_history_rows_read_like_rows_after_a_reload(shop, contexts):
    number, page = order_page(contexts, shop)
    change_status(shop, number, "processing", "Packing your items")
    live = page.locator("[data-order-history] .timeline__time").first
    expect(page.locator("[data-order-history] .timeline__item").first).to_contain_text("Packing")
    live_text, live_at = live.inner_text(), live.get_attribute("datetime")

    page.reload()
    reloaded = page.locator("[data-order-history] .timeline__time").first
    expect(reloaded).to_have_text(SHORT)

    assert SHORT.match(live_text), live_text
    seconds = abs(
        datetime.fromisoformat(live_at.replace("Z", "+00:00"))
        - datetime.fromisoformat(reloaded.get_attribute("datetime"))
    ).total_seconds()
    assert seconds < 60
    if live_text[-2:] == reloaded.inner_text()[-2:]:  # same minute: the very same text
        assert live_text == reloaded.inner_text()


def filled_colour(page, bar) -> list[int]:
    """The colour Chromium painted near the start of a progress bar (read back on a canvas)."""
    png = base64.b64encode(bar.screenshot(animations="disabled")).decode()
    box = bar.bounding_box()
    return page.evaluate(
        """async ([src, x, y]) => {
            const image = new Image();
            image.src = src;
            await image.decode();
            const canvas = document.createElement("canvas");
            canvas.width = image.width;
            canvas.height = image.height;
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0);
            return [...context.getImageData(x, y, 1, 1).data.slice(0, 3)];
        }""",
        [f"data:image/png;base64,{png}", 12, int(box["height"] / 2)],
    )


def test_a_delivered_orders_bar_turns_green(shop, contexts):
    number, page = order_page(contexts, shop)
    bar = page.locator("[data-order-progress]")
    change_status(shop, number, "shipped", "On its way", progress=50)
    expect(page.locator("[data-order-progress-label]")).to_have_text("50%")
    assert filled_colour(page, bar) == [36, 87, 197]  # the accent blue

    change_status(shop, number, "delivered", "Delivered")
    expect(page.locator("[data-order-status]")).to_have_text("Delivered")
    page.locator("[data-completion-dialog] button").click()

    assert filled_colour(page, bar) == [30, 138, 74]  # --success


def test_status_badges_do_not_shift_the_columns(shop, contexts):
    username = new_customer(shop, orders=2)
    (_, number), _ = orders_of(shop, username)
    page = log_in(contexts(), shop, username)
    wait_connected(page)
    widths = "() => [...document.querySelectorAll('.order-table th')].map((th) => th.offsetWidth)"
    before = page.evaluate(widths)

    change_status(shop, number, "processing", "")
    expect(page.locator(".badge--processing")).to_have_count(1)

    assert page.evaluate(widths) == before


def test_empty_states_say_what_comes_next(shop, contexts):
    username = new_customer(shop, orders=0)
    page = log_in(contexts(), shop, username)
    expect(page.locator(".empty-state")).to_contain_text("You have no orders yet.")
    expect(page.locator(".empty-state")).to_contain_text("their status updates live")
    page.goto(f"{shop.url}/notifications/")
    expect(page.locator("[data-notification-empty]")).to_contain_text("appears here at once")
    page.click("[data-bell-toggle]")
    expect(page.locator("[data-bell-empty]")).to_contain_text("Updates on your orders")


def test_order_page_shows_items_total_and_estimated_delivery(shop, contexts):
    page = log_in(contexts(), shop, "alice")
    page.get_by_role("link", name="A-1002").click()
    items = page.locator(".order__items")
    expect(items.locator("tbody tr")).to_have_count(2)
    expect(items).to_contain_text("Walnut chopping board")
    expect(page.locator("[data-order-total]")).to_have_text("62.80")
    expect(page.locator(".order__facts")).to_contain_text("Estimated delivery")
