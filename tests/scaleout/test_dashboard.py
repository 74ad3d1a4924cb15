"""The admin's Realtime page in Chromium, across two instances behind nginx.

Staff open the page through nginx; raw SignalR clients connect to each
instance directly; the page's numbers follow them up and back down without
a reload, because the page is fed by its own hub (/hubs/dashboard).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from websockets.exceptions import InvalidStatus

from tests.chromium import CHROMIUM_ARGS, require_chromium
from tests.support.cluster import Cluster
from tests.support.http import ws
from tests.support.signalr import HubSocket

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.postgres]

SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "realtime-dashboard.png"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "realtime-dashboard.png"
)
PER_INSTANCE = 4
#: Snapshots are written every STATS_INTERVAL (1 s here) and read every 2 s;
#: a loaded machine may take much longer.
WAIT_MS = 45_000


class Clients:
    """Raw SignalR clients on an event loop of their own (Playwright's API is sync)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sockets: list[HubSocket] = []

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open(self, url: str, path: str, count: int, token: str | None = None) -> list[HubSocket]:
        async def connect() -> list[HubSocket]:
            return [await HubSocket.open(ws(url, path), token=token) for _ in range(count)]

        opened = self.run(connect())
        self.sockets += opened
        return opened

    def close(self, sockets: list[HubSocket]) -> None:
        async def close() -> None:
            for socket in sockets:
                await socket.close()

        self.run(close())
        self.sockets = [s for s in self.sockets if s not in sockets]

    def stop(self) -> None:
        self.close(list(self.sockets))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def clients():
    opened = Clients()
    yield opened
    opened.stop()


@pytest.fixture(scope="module")
def chromium() -> Path:
    return require_chromium()


def in_browser_thread(chromium: Path, body) -> None:
    """Run `body(page)` with a Chromium of its own on a thread of its own.

    Playwright's sync API leaves its event loop marked running on the thread
    that uses it: on the main thread it would clash with the e2e suite's
    session browser and with the asyncio tests that run after this one.
    """
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    body(context.new_page())
                finally:
                    browser.close()
        except BaseException as exc:  # re-raised on the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=600)
    assert not thread.is_alive(), "the browser thread did not finish within 600 s"
    if failures:
        raise failures[0]


def open_dashboard(page: Page, cluster: Cluster) -> Page:
    page.goto(f"{cluster.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", cluster.password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.click("#realtime-link a")
    page.wait_for_url(re.compile(r".*/admin/realtime/$"))
    expect(page.locator("#realtime-dashboard")).to_have_attribute(
        "data-state", "connected", timeout=WAIT_MS
    )
    return page


def instance_row(page: Page, pid: int):
    return page.locator(f'#rt-instances tr[data-instance$=":{pid}"]')


def connections_of(page: Page, pid: int) -> int:
    return int(instance_row(page, pid).locator('[data-field="connections"]').inner_text())


def channel_count(page: Page, key: str) -> int:
    row = page.locator(f'#rt-channels tr[data-channel="{key}"]')
    return int(row.locator("td").nth(2).inner_text()) if row.count() else 0


def wait_for(page: Page, predicate, what: str) -> None:
    for _ in range(WAIT_MS // 250):
        if predicate():
            return
        page.wait_for_timeout(250)
    rows = page.locator("#rt-instances tbody").inner_text()
    raise AssertionError(f"the dashboard never showed {what}:\n{rows}")


async def shout(socket: HubSocket) -> None:
    """Broadcast to the test group about 20 times a second until cancelled."""
    while True:
        await socket.invoke("Shout", "dashboard-test", "tick")
        await asyncio.sleep(0.05)


def test_the_dashboard_follows_clients_across_two_instances(cluster, chromium, clients):
    in_browser_thread(chromium, lambda page: follow_clients(page, cluster, clients))


def follow_clients(page: Page, cluster: Cluster, clients: Clients) -> None:
    pids = [cluster.live.pid(i) for i in range(2)]
    cluster.live.manage("run_notifier", "--once")
    open_dashboard(page, cluster)
    # (Other live stacks of the session may share the Redis: more rows is fine.)
    for pid in pids:
        expect(instance_row(page, pid)).to_have_count(1, timeout=WAIT_MS)
        expect(instance_row(page, pid).locator("svg.spark polyline")).to_have_count(1)
    expect(page.locator("#rt-redis")).to_contain_text("ok")
    expect(page.locator("#rt-worker")).to_contain_text("Pending order changes")
    # The page's own connection is counted once its instance has published.
    wait_for(page, lambda: sum(connections_of(page, pid) for pid in pids) >= 1, "the page itself")
    page.wait_for_timeout(2500)
    before = {pid: connections_of(page, pid) for pid in pids}
    echo_before = channel_count(page, "echohub/WebSockets")

    opened = [clients.open(cluster.live.urls[i], "/hubs/echo", PER_INSTANCE) for i in range(2)]
    alice = clients.open(cluster.url, "/hubs/notifications", 2, token=cluster.token("alice"))
    wait_for(
        page,
        lambda: all(connections_of(page, pid) >= before[pid] + PER_INSTANCE for pid in pids),
        f"{PER_INSTANCE} more connections on each instance",
    )
    assert channel_count(page, "echohub/WebSockets") == echo_before + 2 * PER_INSTANCE
    page.fill("#rt-user-search", "alic")
    alice_row = page.locator("#rt-users tbody tr", has_text="alice")
    expect(alice_row).to_have_count(1, timeout=WAIT_MS)
    expect(alice_row.locator("td").nth(1)).to_have_text("2")
    assert int(page.locator("#rt-users-count").inner_text()) >= 1

    with pytest.raises(InvalidStatus):
        clients.open(cluster.url, "/hubs/secure", 1)
    expect(
        page.locator("#rt-refusals tbody tr", has_text="anonymous user on an authenticated hub")
    ).not_to_have_count(0, timeout=WAIT_MS)

    # Broadcasts until the end, so that messages/s and the sparklines move.
    for socket in opened[0] + opened[1]:
        clients.run(socket.invoke("Join", "dashboard-test"))
    shouting = asyncio.run_coroutine_threadsafe(shout(opened[0][0]), clients.loop)
    try:
        wait_for(
            page,
            lambda: all(
                float(instance_row(page, pid).locator('[data-field="rate"]').inner_text()) > 0
                for pid in pids
            ),
            "messages per second above 0 on both instances",
        )
        page.fill("#rt-user-search", "")
        page.wait_for_timeout(4000)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        shouting.cancel()

    clients.close(opened[0] + opened[1] + alice)
    wait_for(
        page,
        # (Connections other tests left may end meanwhile, hence <=.)
        lambda: all(connections_of(page, pid) <= before[pid] for pid in pids),
        f"the connections back where they were: {before}",
    )
    assert channel_count(page, "echohub/WebSockets") <= echo_before


def test_the_dashboard_hub_refuses_customers(cluster, clients):
    with pytest.raises(InvalidStatus) as refused:
        clients.open(cluster.url, "/hubs/dashboard", 1, token=cluster.token("alice"))
    assert refused.value.response.status_code == 403
