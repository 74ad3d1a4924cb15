"""Fixtures for end-to-end tests: a live daphne stack and the official Node client."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.chromium import CHROMIUM_ARGS, require_chromium
from tests.e2e.pages import DESKTOP, PASSWORD
from tests.e2e.wire import CUSTOMER
from tests.support.daphne import LiveStack
from tests.support.node import CLIENT, NodeProcess, node_problem, run_node
from tests.support.redis import embedded_redis, shard_count

HERE = Path(__file__).resolve().parent
REALTIME_OPTIONS = {"KEEPALIVE_INTERVAL": 2, "CLIENT_TIMEOUT": 6, "HANDSHAKE_TIMEOUT": 3}


@pytest.fixture(scope="session")
def node_available() -> None:
    """Skip loudly without Node and the SignalR packages; fail when REQUIRE_E2E=1."""
    problem = node_problem()
    if problem is None:
        return
    message = f"E2E TESTS NOT RUN: {problem}"
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"{message} (REQUIRE_E2E=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def live(tmp_path_factory, redis_url) -> LiveStack:
    """One daphne process over the test hubs, with a customer alice/alice-pass-1."""
    with LiveStack(
        tmp_path_factory.mktemp("live"), redis_url, realtime_options=REALTIME_OPTIONS
    ) as stack:
        username, password = CUSTOMER
        stack.shell(
            "from django.contrib.auth import get_user_model\n"
            f"get_user_model().objects.create_user({username!r}, password={password!r})"
        )
        yield stack


@pytest.fixture
def node(node_available):
    """Run a client scenario to completion and return its JSON result."""

    def run(scenario: str, options: dict, timeout: float = 60) -> dict:
        result = run_node(CLIENT, scenario, options, timeout=timeout)
        assert "fatal" not in result, result
        return result

    return run


@pytest.fixture
def node_process(node_available):
    """Start an interactive client scenario (STEP lines, answers on stdin)."""
    with ExitStack() as stack:

        def start(scenario: str, options: dict) -> NodeProcess:
            return stack.enter_context(NodeProcess(CLIENT, scenario, options))

        yield start


# Browser tests -------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skip loudly without it, fail when REQUIRE_BROWSER=1."""
    return require_chromium()


# Per module, not per session: while Playwright's sync API is open it runs an
# event loop in this thread, and every async test after it (pytest-asyncio)
# would fail to start its own.
@pytest.fixture(scope="module")
def browser(chromium) -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shop_redis(tmp_path_factory, redis_url) -> str:
    """Redis servers of the shop alone, as many shards as the session's.

    The shop lives for the whole session, and a server process sweeps what
    unmarked processes left and re-registers when Redis is flushed: on the
    session's Redis it changed what later in-process tests counted (their
    test processes' entries, the registry epoch they settle).
    """
    with embedded_redis(tmp_path_factory.mktemp("shop-redis"), shard_count(redis_url)) as url:
        yield url


@pytest.fixture(scope="session")
def shop(chromium, tmp_path_factory, shop_redis) -> LiveStack:
    """The real project on daphne, seeded with alice, bob and staff (shared by the modules).

    Tests that change data beyond the demo scenarios create a customer of
    their own (``pages.new_customer``).
    """
    stack = LiveStack(
        tmp_path_factory.mktemp("shop"),
        shop_redis,
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
    """Open browser contexts (separate cookie jars); closed after the test.

    ``contexts()`` is a desktop window; ``contexts(viewport=PHONE)`` a phone.
    """
    opened: list[BrowserContext] = []

    def open_context(**options) -> BrowserContext:
        context = browser.new_context(**{"viewport": DESKTOP, **options})
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()
