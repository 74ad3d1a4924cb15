"""Mobile first: at 360 px nothing scrolls sideways, orders are cards, taps are easy."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e import states
from tests.e2e.pages import (
    PHONE,
    SCREENSHOTS,
    assert_no_horizontal_scroll,
    log_in,
    open_bell,
    order_id,
    small_tap_targets,
    wait_connected,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_no_page_state_scrolls_sideways_or_has_small_tap_targets_at_360px(shop, contexts):
    small = {}
    for state, page in states.walk(contexts, shop, PHONE):
        assert_no_horizontal_scroll(page, state)
        targets = small_tap_targets(page)
        if targets:
            small[state] = targets
    assert small == {}


def test_orders_are_cards_and_the_bell_is_a_full_width_sheet(shop, contexts):
    page = log_in(contexts(viewport=PHONE), shop, "alice")
    wait_connected(page)
    rows = page.locator(".order-row")
    expect(rows.first).to_be_visible()
    assert rows.first.evaluate("el => getComputedStyle(el).display") == "block"
    header = page.locator(".order-table thead").bounding_box()
    assert header["height"] <= 1  # for screen readers only
    # "A-1004" on one line: one line box of text in the order's link.
    link = rows.first.locator(".order-row__number a")
    assert link.evaluate("el => el.firstChild.length && el.getClientRects().length") == 1
    assert link.bounding_box()["height"] < 60
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "mobile-orders.png", full_page=True)

    page.goto(f"{shop.url}/orders/{order_id(shop, 'A-1003')}/")
    wait_connected(page)
    assert_no_horizontal_scroll(page, "order page")
    page.screenshot(path=SCREENSHOTS / "mobile-order.png", full_page=True)

    open_bell(page)
    box = page.locator("[data-bell-panel]").bounding_box()
    assert box["x"] == 0
    assert box["width"] == PHONE["width"]
    assert box["y"] + box["height"] <= PHONE["height"] + 1
    page.screenshot(path=SCREENSHOTS / "mobile-bell.png")
