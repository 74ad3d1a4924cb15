"""Everyone hears what changed: live announcements, titles, focus, and axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e import states
from tests.e2e.pages import (
    DESKTOP,
    PHONE,
    axe_violations,
    change_status,
    log_in,
    new_customer,
    notify,
    orders_of,
    wait_connected,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_core_finds_no_violations_in_any_page_state(shop, contexts, viewport):
    found = {}
    for state, page in states.walk(contexts, shop, viewport):
        violations = axe_violations(page)
        if violations:
            found[state] = violations
    assert found == {}


def test_the_axe_check_does_find_violations(shop, contexts):
    """The harness itself: an image without alt text is reported."""
    page = contexts().new_page()
    page.goto(f"{shop.url}/accounts/login/")
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in [v["id"] for v in axe_violations(page)]


def order_page(contexts, shop, **options):
    username = new_customer(shop)
    (pk, number), *_ = orders_of(shop, username)
    context = contexts(**options)
    page = log_in(context, shop, username)
    page.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(page)
    return username, number, page


def test_changes_are_announced_politely(shop, contexts):
    username, number, page = order_page(contexts, shop)
    announcer = page.locator("[data-announcer]")
    expect(announcer).to_have_attribute("aria-live", "polite")

    change_status(shop, number, "shipped", "On its way", progress=40)
    # The change also notifies the customer: both may be gathered into one message.
    expect(announcer).to_contain_text(f"Order {number} is now Shipped, 40 %")

    notify(shop, username, "Something new")
    expect(announcer).to_have_text("1 new notification")


def test_the_unread_count_is_in_the_title(shop, contexts):
    username = new_customer(shop, notifications=3)
    page = log_in(contexts(), shop, username)
    expect(page).to_have_title("(3) My orders · Shop")
    wait_connected(page)

    notify(shop, username, "Number four")
    expect(page).to_have_title("(4) My orders · Shop")
    page.click("[data-bell-toggle]")
    page.get_by_role("button", name="Mark all read").click()
    expect(page).to_have_title("My orders · Shop")


def test_bell_opens_a_dialog_and_moves_focus_into_it(shop, contexts):
    username = new_customer(shop, notifications=2)
    page = log_in(contexts(), shop, username)
    wait_connected(page)
    toggle = page.locator("[data-bell-toggle]")
    panel = page.locator("[data-bell-panel]")
    expect(toggle).to_have_attribute("aria-haspopup", "dialog")
    expect(panel).to_have_attribute("role", "dialog")
    expect(toggle).to_have_accessible_name("Notifications, 2 unread")

    toggle.focus()
    page.keyboard.press("Enter")

    expect(panel).to_be_visible()
    assert panel.evaluate("el => el.contains(document.activeElement)")
    buttons = panel.get_by_role("button", name=re.compile("^Mark read: "))
    expect(buttons).to_have_count(2)
    expect(buttons.first).to_have_accessible_name("Mark read: Note 1")
    buttons.first.click()
    # Focus moves to the next item, not to <body>.
    expect(panel.get_by_role("button", name="Mark read: Note 0")).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle).to_be_focused()


def test_completion_dialog_keeps_focus_and_returns_it_to_the_heading(shop, contexts):
    _, number, page = order_page(contexts, shop)

    change_status(shop, number, "delivered", "At your door")

    dialog = page.locator("[data-completion-dialog]")
    expect(dialog).to_be_visible()
    for _ in range(5):
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('dialog').contains(document.activeElement)")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.querySelector('dialog').contains(document.activeElement)")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_animations_respect_reduced_motion(shop, contexts):
    _, number, page = order_page(contexts, shop, reduced_motion="reduce")

    change_status(shop, number, "processing", "Packing", progress=10)

    badge = page.locator("[data-order-status]")
    expect(badge).to_have_class(re.compile("is-updated"))
    assert badge.evaluate("el => getComputedStyle(el).animationDuration") == "0s"
    assert badge.evaluate("el => getComputedStyle(el).transitionDuration") == "0s"
