"""The shop's pages in Debian's Chromium, against a live daphne over real Redis.

A customer watches an order while staff edit it in the admin; two tabs of one
customer agree on read state; a restarted server is survived with nothing
lost; SSE and long polling work where WebSockets do not; and the page falls
back to polling when the hub cannot be reached at all.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.live import LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw-test-123"
#: The README's screenshots are refreshed only on request (UPDATE_SCREENSHOTS=1).
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "shop-screenshots"
)
VIEWPORT = {"width": 1100, "height": 760}
#: Long enough for the client's reconnect delays (0, 2, 5, 10 s) to reach a restarted server.
RECOVERY_TIMEOUT = 45_000

# Live updates cross two processes and Redis: allow more than the default 5 s.
expect.set_options(timeout=10_000)


# Fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium; skip loudly without it, fail when REQUIRE_BROWSER=1."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"BROWSER TESTS NOT RUN: {CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (REQUIRE_BROWSER=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(chromium) -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shop(chromium, tmp_path_factory, redis_url) -> LiveStack:
    """The real project on daphne, seeded with alice, bob and staff."""
    stack = LiveStack(
        tmp_path_factory.mktemp("shop"),
        redis_url,
        asgi="config.asgi:application",
        # Plain http on loopback: the session cookie cannot be Secure here.
        env={"SESSION_COOKIE_SECURE": "0"},
    )
    # DEBUG is off, as in production: whitenoise serves the collected files.
    stack.manage("collectstatic", "--noinput")
    with stack:
        stack.manage("seed_demo", "--password", PASSWORD)
        yield stack


@pytest.fixture
def contexts(browser):
    """Open browser contexts (separate cookie jars); closed after the test."""
    opened: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(viewport=VIEWPORT)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


# Helpers -----------------------------------------------------------------------


def log_in(context: BrowserContext, shop: LiveStack, username: str) -> Page:
    page = context.new_page()
    page.goto(f"{shop.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/orders/$"))
    return page


def log_in_to_admin(context: BrowserContext, shop: LiveStack, username: str = "staff") -> Page:
    page = context.new_page()
    page.goto(f"{shop.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    return page


def wait_connected(page: Page, timeout: float = 15_000) -> None:
    expect(page.locator("body")).to_have_attribute(
        "data-realtime-state", "connected", timeout=timeout
    )


def order_id(shop: LiveStack, number: str) -> int:
    return int(
        shop.shell(
            f"from orders.models import Order; print(Order.objects.get(number={number!r}).pk)"
        ).strip()
    )


def change_status(shop: LiveStack, number: str, status: str, message: str, progress=None) -> None:
    """Change an order from another process, through the service (as the worker would)."""
    shop.shell(
        "from orders import services; from orders.models import Order\n"
        f"services.change_status(Order.objects.get(number={number!r}), status={status!r}, "
        f"message={message!r}, progress={progress!r})"
    )


def notify(shop: LiveStack, username: str, title: str) -> None:
    shop.shell(
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services\n"
        f"services.send_to_user(get_user_model().objects.get(username={username!r}), "
        f"title={title!r}, message='Sent by the test')"
    )


def unread(page: Page) -> int:
    expect(page.locator("[data-bell]")).to_have_attribute("data-unread", re.compile(r"\d+"))
    return int(page.get_attribute("[data-bell]", "data-unread"))


def open_bell(page: Page) -> None:
    if page.get_attribute("[data-bell-toggle]", "aria-expanded") != "true":
        page.click("[data-bell-toggle]")
    expect(page.locator("[data-bell-panel]")).to_be_visible()


def bell_item(page: Page, title: str):
    """The bell's item whose title is exactly `title`."""
    exact = page.locator(".bell__item-title", has_text=re.compile(f"^{re.escape(title)}$"))
    return page.locator("[data-bell-list] .bell__item", has=exact)


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
    expect(customer.locator("[data-connection-banner]")).to_have_text("Reconnecting…")
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
    """No hub at all: the page says Disconnected and polls /orders/<id>/state every 30 s."""
    context = contexts()
    customer = log_in(context, shop, "bob")
    pk = order_id(shop, "B-2002")
    context.route(re.compile(r".*/hubs/.*"), lambda route: route.abort())
    customer.clock.install()
    with customer.expect_request(f"**/orders/{pk}/state"):
        customer.goto(f"{shop.url}/orders/{pk}/")
    expect(customer.locator("body")).to_have_attribute("data-realtime-state", "disconnected")
    expect(customer.locator("[data-connection-banner]")).to_have_text("Disconnected")
    expect(customer.locator("body")).to_have_attribute("data-order-polling", "on")

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
