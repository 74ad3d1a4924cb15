"""/notifications/ is live and read by doing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import log_in, new_customer, notify, orders_of, wait_connected

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DATETIME = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2}$")


def notifications_page(contexts, shop, username, context=None):
    page = log_in(context or contexts(), shop, username)
    page.goto(f"{shop.url}/notifications/")
    wait_connected(page)
    return page


def row(page, title):
    return page.locator(".notification", has_text=title)


def test_new_notifications_appear_at_the_top_as_after_a_reload(shop, contexts):
    username = new_customer(shop, notifications=2)
    page = notifications_page(contexts, shop, username)
    expect(page.locator(".notification")).to_have_count(2)

    notify(shop, username, "Arrived while reading")

    expect(page.locator(".notification")).to_have_count(3)
    first = page.locator(".notification").first
    expect(first).to_contain_text("Arrived while reading")
    expect(first).to_contain_text("Sent by the test")
    expect(first.locator(".tag")).to_have_text("Information")
    expect(first.get_by_role("button")).to_have_accessible_name("Mark read: Arrived while reading")
    live_time = first.locator("time").inner_text()
    assert DATETIME.match(live_time), live_time

    page.reload()
    reloaded = page.locator(".notification").first
    expect(reloaded).to_contain_text("Arrived while reading")
    expect(reloaded.locator("time")).to_have_text(DATETIME)
    assert (first.get_attribute("class") or "") == (reloaded.get_attribute("class") or "")


def test_opening_a_notification_marks_it_read_in_every_tab(shop, contexts):
    username = new_customer(shop)
    (pk, number), *_ = orders_of(shop, username)
    notify(shop, username, f"Order {number}: Shipped", orderId=str(pk))
    context = contexts()
    reader = notifications_page(contexts, shop, username, context)
    other = context.new_page()
    other.goto(f"{shop.url}/notifications/")
    wait_connected(other)
    expect(other.locator("[data-bell]")).to_have_attribute("data-unread", "1")

    reader.get_by_role("link", name=f"Order {number}: Shipped").click()

    reader.wait_for_url(re.compile(rf".*/orders/{pk}/$"))
    expect(row(other, f"Order {number}: Shipped")).to_have_class(re.compile("is-read"))
    expect(other.locator("[data-bell]")).to_have_attribute("data-unread", "0")
    expect(other).to_have_title("Notifications · Shop")


def test_mark_all_read_confirms_and_hides_when_nothing_is_unread(shop, contexts):
    username = new_customer(shop, notifications=2)
    page = notifications_page(contexts, shop, username)
    mark_all = page.get_by_role("button", name="Mark all read", exact=True).first
    expect(page.locator("[data-mark-all-read-form]")).to_be_visible()

    page.locator("[data-mark-all-read-form] button").click()

    expect(page.locator("[data-page-status]")).to_have_text("Marked 2 notifications read.")
    expect(page.locator("[data-mark-all-read-form]")).to_be_hidden()
    expect(page.locator(".notification.is-read")).to_have_count(2)
    page.reload()
    expect(page.locator("[data-mark-all-read-form]")).to_be_hidden()
    expect(mark_all).to_be_hidden()

    notify(shop, username, "One more")
    expect(page.locator("[data-mark-all-read-form]")).to_be_visible()


def test_focus_moves_to_the_next_item_after_mark_read(shop, contexts):
    username = new_customer(shop, notifications=3)
    page = notifications_page(contexts, shop, username)
    rows = page.locator(".notification")
    second_id = rows.nth(1).get_attribute("data-notification-id")

    rows.first.get_by_role("button", name=re.compile("^Mark read")).click()

    expect(rows.first).to_have_class(re.compile("is-read"))
    expect(rows.nth(1).get_by_role("button")).to_be_focused()
    assert page.evaluate("document.activeElement.dataset.markRead") == second_id
    # The last unread one: focus goes to the next item itself, never <body>.
    rows.nth(2).get_by_role("button").click()
    expect(rows.nth(2)).to_have_class(re.compile("is-read"))
    assert page.evaluate("document.activeElement.tagName") != "BODY"


def test_load_more_appends_older_notifications(shop, contexts):
    username = new_customer(shop, notifications=25)
    page = notifications_page(contexts, shop, username)
    expect(page.locator(".notification")).to_have_count(20)
    expect(page.locator(".pagination")).to_be_hidden()

    page.get_by_role("button", name="Load older notifications").click()

    expect(page.locator(".notification")).to_have_count(25)
    expect(page.locator(".notification").last).to_contain_text("Note 0")
    expect(page.get_by_role("button", name="Load older notifications")).to_be_hidden()
    ids = page.eval_on_selector_all(
        ".notification", "rows => rows.map((r) => r.dataset.notificationId)"
    )
    assert len(set(ids)) == 25
