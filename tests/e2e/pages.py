"""What the browser tests share: logging in, changing data from outside, checks.

The fixtures (a Chromium, the live shop) are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.support.daphne import LiveStack
from tests.support.processes import ROOT

PASSWORD = "pw-test-123"
#: The README's screenshots are refreshed only on request (UPDATE_SCREENSHOTS=1).
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "shop-screenshots"
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
#: Long enough for the client's retry delays (0, 2, 5, 10 s) to reach a restarted server.
RECOVERY_TIMEOUT = 45_000
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAP = 44

# Live updates cross two processes and Redis: allow more than the default 5 s.
expect.set_options(timeout=10_000)

_customers = itertools.count(1)


def _sign_in(context: BrowserContext, url: str, username: str, submit: str, landing: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click(submit)
    page.wait_for_url(re.compile(landing))
    return page


def log_in(context: BrowserContext, shop: LiveStack, username: str) -> Page:
    return _sign_in(
        context, f"{shop.url}/accounts/login/", username, "button[type=submit]", r".*/orders/$"
    )


def log_in_to_admin(context: BrowserContext, shop: LiveStack, username: str = "staff") -> Page:
    return _sign_in(
        context,
        f"{shop.url}/admin/login/?next=/admin/",
        username,
        "input[type=submit]",
        r".*/admin/$",
    )


def new_customer(shop: LiveStack, *, orders: int = 1, notifications: int = 0) -> str:
    """Create a customer of its own (orders C<n>-1.., pending) for one test; return the name."""
    n = next(_customers)
    username = f"cust{n}-{os.getpid()}"
    shop.shell(
        "from django.contrib.auth import get_user_model\n"
        "from orders import services\n"
        "from orders.models import Order, OrderItem\n"
        "from notifications import services as notifications\n"
        f"user = get_user_model().objects.create_user({username!r}, password={PASSWORD!r})\n"
        f"for i in range(1, {orders} + 1):\n"
        f"    order = Order.objects.create(customer=user, number=f'C{n}x{os.getpid()}-{{i}}')\n"
        "    OrderItem.objects.create(order=order, name='Teapot', quantity=1, unit_price='20.00')\n"
        f"for i in range({notifications}):\n"
        "    notifications.send_to_user(user, title=f'Note {i}', message='Hello')\n"
    )
    return username


def order_id(shop: LiveStack, number: str) -> int:
    return int(
        shop.shell(
            f"from orders.models import Order; print(Order.objects.get(number={number!r}).pk)"
        ).strip()
    )


def orders_of(shop: LiveStack, username: str) -> list[tuple[int, str]]:
    """(pk, number) of a customer's orders, oldest first."""
    out = shop.shell(
        "from orders.models import Order\n"
        f"for o in Order.objects.filter(customer__username={username!r}).order_by('pk'):\n"
        "    print(o.pk, o.number)"
    )
    return [(int(pk), number) for pk, number in (line.split() for line in out.splitlines())]


def change_status(shop: LiveStack, number: str, status: str, message: str, progress=None) -> None:
    """Change an order from another process, through the service (as the worker would)."""
    shop.shell(
        "from orders import services; from orders.models import Order\n"
        f"services.change_status(Order.objects.get(number={number!r}), status={status!r}, "
        f"message={message!r}, progress={progress!r})"
    )


def notify(shop: LiveStack, username: str, title: str, **data) -> None:
    shop.shell(
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services\n"
        f"services.send_to_user(get_user_model().objects.get(username={username!r}), "
        f"title={title!r}, message='Sent by the test', data={data!r})"
    )


def wait_connected(page: Page, timeout: float = 15_000) -> None:
    expect(page.locator("body")).to_have_attribute(
        "data-realtime-state", "connected", timeout=timeout
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


# Checks ------------------------------------------------------------------------


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core (from npm) on the page; return its violations, summarised."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ") + " :: " + n.failureSummary),
            }));
        }"""
    )


def assert_no_axe_violations(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core on {state}: {violations}"


def assert_no_horizontal_scroll(page: Page, state: str) -> None:
    width = page.evaluate(
        "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert width["scroll"] <= width["inner"], f"{state} scrolls sideways: {width}"


def small_tap_targets(page: Page) -> list[str]:
    """Visible controls smaller than 44x44 CSS px (inline links in text excepted)."""
    return page.evaluate(
        """(tap) => {
            const controls = document.querySelectorAll(
                "a[href], button, input:not([type=hidden]), select, textarea, summary");
            const small = [];
            for (const el of controls) {
                const box = el.getBoundingClientRect();
                const style = getComputedStyle(el);
                if (!box.width || !box.height || style.visibility === "hidden") continue;
                if (el.closest(".skip-link, .visually-hidden")) continue;
                const inline = el.tagName === "A" && style.display === "inline";
                if (inline) continue;
                if (box.width < tap || box.height < tap) {
                    const label = el.textContent.trim().slice(0, 30);
                    const size = `${Math.round(box.width)}x${Math.round(box.height)}`;
                    small.push(`${el.tagName.toLowerCase()} "${label}" ${size}`);
                }
            }
            return small;
        }""",
        TAP,
    )
