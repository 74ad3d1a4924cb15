"""Staff cannot publish contradictions, and see what they send before sending it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import SCREENSHOTS, log_in_to_admin, new_customer, orders_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_send_form_shows_the_fields_of_the_chosen_audience_a_preview_and_the_count(shop, contexts):
    admin = log_in_to_admin(contexts(), shop)
    admin.goto(f"{shop.url}/admin/notifications/notification/send/")
    users, topic = admin.locator(".field-users"), admin.locator(".field-topic")
    preview = admin.locator("[data-send-preview]")
    expect(users).to_be_visible()
    expect(topic).to_be_hidden()
    expect(preview.locator("[data-preview-count]")).to_have_text("0 recipients")

    admin.fill("#id_title", "Spring sale")
    admin.fill("#id_message", "Everything 10 % off this weekend.")
    admin.select_option("#id_type", "announcement")
    admin.locator("#id_users_from").select_option(label="alice")
    admin.locator("#id_users_add").click()
    expect(preview.locator("[data-preview-title]")).to_have_text("Spring sale")
    expect(preview.locator("[data-preview-message]")).to_have_text(
        "Everything 10 % off this weekend."
    )
    expect(preview.locator("[data-preview-type]")).to_have_text("Announcement")
    expect(preview.locator("[data-preview-count]")).to_have_text("1 recipient")

    admin.check("input[name=audience][value=topic]")
    expect(users).to_be_hidden()
    expect(topic).to_be_visible()
    admin.select_option("#id_topic", label="Deals")
    # alice, bob and staff subscribe to Deals (and any customer a test added).
    count = preview.locator("[data-preview-count]")
    expect(count).to_have_text(re.compile(r"^[3-9]\d* recipients$"))

    admin.check("input[name=audience][value=staff]")
    expect(users).to_be_hidden()
    expect(topic).to_be_hidden()
    expect(preview.locator("[data-preview-count]")).to_have_text("1 recipient")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=SCREENSHOTS / "admin-send.png", full_page=True)


def test_order_form_refuses_progress_above_100_next_to_the_field(shop, contexts):
    username = new_customer(shop)
    (pk, _), *_ = orders_of(shop, username)
    admin = log_in_to_admin(contexts(), shop)
    admin.goto(f"{shop.url}/admin/orders/order/{pk}/change/")
    expect(admin.locator("#id_progress")).to_have_attribute("max", "100")

    # The browser's own check would stop the form; staff can still paste past it.
    admin.evaluate("document.querySelector('#id_progress').removeAttribute('max')")
    admin.fill("#id_progress", "150")
    admin.click("input[name=_save]")

    expect(admin.locator(".field-progress .errorlist")).to_contain_text("less than or equal to 100")
    expect(admin.locator(".errornote")).to_be_visible()
    expect(admin.locator("body")).not_to_contain_text("order_progress_0_100")
    expect(admin.locator("#id_progress")).to_have_attribute("max", "100")
