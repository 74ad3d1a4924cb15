"""The shop's pages in Debian's Chromium, against a live daphne over real Redis.

A customer watches an order while staff edit it in the admin; two tabs of one
customer agree on read state; a restarted server is survived with nothing
lost; SSE and long polling work where WebSockets do not; and the page falls
back to polling when the hub cannot be reached at all.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from redis import Redis

from realtime import conf
from tests.e2e.pages import (
    RECOVERY_TIMEOUT,
    SCREENSHOTS,
    bell_item,
    change_status,
    log_in,
    log_in_to_admin,
    new_customer,
    notify,
    open_bell,
    order_id,
    orders_of,
    unread,
    wait_connected,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


# Scenarios ---------------------------------------------------------------------


def test_admin_edit_updates_the_open_order_page_without_reload(shop, contexts):
    """Staff save in the admin; the customer's badge, message, bar and bell follow live."""
    pk = order_id(shop, "A-1002")
    customer = log_in(contexts(), shop, "alice")
    customer.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(customer)
    expect(customer.locator("[data-order-status]")).to_have_text("Processing")
    customer.evaluate("window.__notReloaded = true")
    before = unread(customer)

    admin = log_in_to_admin(contexts(), shop)
    admin.goto(f"{shop.url}/admin/orders/order/{pk}/change/")
    admin.select_option("#id_status", "shipped")
    admin.fill("#id_progress", "60")
    admin.fill("#id_status_message", "Handed to the courier at 14:05")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=SCREENSHOTS / "admin-edit.png", full_page=True)
    admin.click("input[name=_save]")
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    expect(customer.locator("[data-order-status]")).to_have_text("Shipped")
    expect(customer.locator("[data-order-status]")).to_have_class(re.compile("badge--shipped"))
    expect(customer.locator("[data-order-message]")).to_have_text("Handed to the courier at 14:05")
    expect(customer.locator("[data-order-progress]")).to_have_js_property("value", 60)
    expect(customer.locator("[data-order-progress-label]")).to_have_text("60%")
    expect(customer.locator("[data-unread-count]")).to_have_text(str(before + 1))
    expect(customer.locator("[data-order-history] .timeline__item").first).to_contain_text(
        "Handed to the courier at 14:05"
    )
    assert customer.evaluate("window.__notReloaded") is True
    customer.screenshot(path=SCREENSHOTS / "order-page.png", full_page=True)
    open_bell(customer)
    expect(bell_item(customer, "Order A-1002: Shipped")).to_be_visible()
    customer.screenshot(path=SCREENSHOTS / "order-page-bell.png", full_page=True)


def test_second_tab_sees_mark_as_read_from_the_first(shop, contexts):
    """Read state is per user, not per tab: both tabs agree on count and item."""
    context = contexts()
    first = log_in(context, shop, "alice")
    second = context.new_page()
    second.goto(f"{shop.url}/orders/")
    for page in (first, second):
        wait_connected(page)

    notify(shop, "alice", "Two tabs, one truth")
    for page in (first, second):
        open_bell(page)
        expect(bell_item(page, "Two tabs, one truth")).to_be_visible()
    count = unread(first)
    expect(second.locator("[data-bell]")).to_have_attribute("data-unread", str(count))

    bell_item(first, "Two tabs, one truth").get_by_role("button", name="Mark read").click()

    for page in (first, second):
        expect(page.locator("[data-bell]")).to_have_attribute("data-unread", str(count - 1))
        expect(bell_item(page, "Two tabs, one truth")).to_have_class(re.compile("is-read"))

    first.click("[data-mark-all-read]")
    for page in (first, second):
        expect(page.locator("[data-bell]")).to_have_attribute("data-unread", "0")
        expect(page.locator("[data-unread-count]")).to_be_hidden()


def test_page_recovers_after_a_server_restart_and_shows_what_it_missed(shop, contexts):
    """While the server is down the page says so; afterwards it catches up by itself."""
    pk = order_id(shop, "A-1001")
    customer = log_in(contexts(), shop, "alice")
    customer.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(customer)
    expect(customer.locator("[data-order-status]")).to_have_text("Pending")
    customer.evaluate("window.__notReloaded = true")
    before = unread(customer)

    shop.stop(0)
    expect(customer.locator("body")).to_have_class(re.compile("signalr-reconnecting"))
    expect(customer.locator("[data-connection-banner-text]")).to_have_text("Reconnecting…")
    # Changes made while no server is up reach nobody live; the page must catch up.
    change_status(shop, "A-1001", "delivered", "Delivered while you were away")
    notify(shop, "alice", "Missed while offline")
    shop.start(0)

    wait_connected(customer, timeout=RECOVERY_TIMEOUT)
    expect(customer.locator("[data-connection-banner]")).to_be_hidden()
    expect(customer.locator("body")).not_to_have_class(re.compile("signalr-"))
    expect(customer.locator("[data-order-status]")).to_have_text("Delivered")
    expect(customer.locator("[data-order-message]")).to_have_text("Delivered while you were away")
    expect(customer.locator("[data-order-progress]")).to_have_js_property("value", 100)
    expect(customer.locator("[data-completion-dialog]")).to_be_visible()
    customer.click("[data-completion-dialog] button")
    # The order's own notification and the direct one, both created meanwhile.
    expect(customer.locator("[data-unread-count]")).to_have_text(str(before + 2))
    open_bell(customer)
    expect(bell_item(customer, "Missed while offline")).to_be_visible()
    expect(bell_item(customer, "Order A-1001: Delivered")).to_be_visible()
    assert customer.evaluate("window.__notReloaded") is True


@pytest.mark.parametrize(
    ("query", "init_script", "transport"),
    [
        ("?transports=sse", None, "ServerSentEvents"),
        ("?transports=longpolling", None, "LongPolling"),
        # A browser without WebSockets at all: the default order falls back to SSE.
        ("", "delete window.WebSocket;", "ServerSentEvents"),
    ],
    ids=["sse", "longpolling", "no-websocket-api"],
)
def test_page_works_without_websockets(shop, contexts, query, init_script, transport):
    """Live order updates and notifications over SSE and long polling."""
    context = contexts()
    if init_script:
        context.add_init_script(init_script)
    customer = log_in(context, shop, "bob")
    pk = order_id(shop, "B-2001")
    customer.goto(f"{shop.url}/orders/{pk}/{query}")
    wait_connected(customer)
    body = customer.locator("body")
    expect(body).to_have_attribute("data-transport-orders", transport)
    expect(body).to_have_attribute("data-transport-notifications", transport)

    message = f"Moving along over {transport} ({query or 'no WebSocket API'})"
    change_status(shop, "B-2001", "processing", message, progress=45)
    expect(customer.locator("[data-order-message]")).to_have_text(message)
    expect(customer.locator("[data-order-progress-label]")).to_have_text("45%")

    title = f"Hello over {transport} via {query or 'no WebSocket API'}"
    notify(shop, "bob", title)
    open_bell(customer)
    expect(bell_item(customer, title)).to_be_visible()
    bell_item(customer, title).get_by_role("button", name="Mark read").click()
    expect(bell_item(customer, title)).to_have_class(re.compile("is-read"))


def test_page_polls_its_state_when_the_hub_is_unreachable(shop, contexts):
    """No hub at all: the page says updates are paused and polls /orders/<id>/state every 30 s."""
    context = contexts()
    customer = log_in(context, shop, "bob")
    pk = order_id(shop, "B-2002")
    context.route(re.compile(r".*/hubs/.*"), lambda route: route.abort())
    customer.clock.install()
    with customer.expect_request(f"**/orders/{pk}/state"):
        customer.goto(f"{shop.url}/orders/{pk}/")
    expect(customer.locator("body")).to_have_attribute("data-realtime-state", "disconnected")
    expect(customer.locator("[data-connection-banner-text]")).to_have_text(
        "Live updates paused; checking every 30 s"
    )
    expect(customer.locator("body")).to_have_attribute("data-polling", "on")

    change_status(shop, "B-2002", "delivered", "Found by polling")
    with customer.expect_request(f"**/orders/{pk}/state"):
        customer.clock.fast_forward(30_000)

    expect(customer.locator("[data-order-status]")).to_have_text("Delivered")
    expect(customer.locator("[data-order-message]")).to_have_text("Found by polling")
    expect(customer.locator("[data-order-progress-label]")).to_have_text("100%")


def test_staff_see_how_many_users_are_online(shop, contexts):
    customer = log_in(contexts(), shop, "alice")
    wait_connected(customer)
    staff = log_in(contexts(), shop, "staff")
    wait_connected(staff)
    badge = staff.locator("[data-online-now]")
    expect(badge).to_have_text(re.compile(r"^[2-9]\d* online now$"))
    expect(customer.locator("[data-online-now]")).to_have_count(0)


def test_open_page_catches_up_when_redis_loses_what_it_held(shop, contexts, shop_redis):
    """Redis emptied under an open page (a restart without persistence, a flush):
    the server tells the page to resync, and it shows what was lost, with the
    same connection and no reload."""
    username = new_customer(shop)
    [(pk, number)] = orders_of(shop, username)
    customer = log_in(contexts(), shop, username)
    customer.goto(f"{shop.url}/orders/{pk}/")
    wait_connected(customer)
    expect(customer.locator("[data-order-status]")).to_have_text("Pending")
    customer.evaluate("window.__notReloaded = true")
    connection_ids = "[...realtime.hubs.values()].map((hub) => hub.connection.connectionId)"
    before_ids = customer.evaluate(connection_ids)
    before = unread(customer)
    # Published as far as the database knows, but the messages died with Redis.
    shop.shell(
        "from django.contrib.auth import get_user_model\n"
        "from django.utils import timezone\n"
        "from notifications.models import Notification\n"
        "from orders.models import Order\n"
        f"Order.objects.filter(number={number!r}).update(status='shipped',\n"
        "    notified_status='shipped', status_message='Lost with Redis')\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "Notification.objects.create(recipient=user, title='Lost with Redis',\n"
        "    published_at=timezone.now())"
    )
    for url in shop_redis.split():
        Redis.from_url(url).flushdb()

    expect(customer.locator("[data-order-status]")).to_have_text("Shipped")
    expect(customer.locator("[data-order-message]")).to_have_text("Lost with Redis")
    expect(customer.locator("[data-unread-count]")).to_have_text(str(before + 1))
    open_bell(customer)
    expect(bell_item(customer, "Lost with Redis")).to_be_visible()
    assert customer.evaluate(connection_ids) == before_ids
    assert customer.evaluate("window.__notReloaded") is True
    # Let the new registry epoch settle, so the next test starts from it.
    time.sleep(conf.get().REGISTRY_SETTLE)
