"""Fixtures for the scale-out tests: PostgreSQL, nginx, two daphne instances, Node.

Without the binaries (Debian: postgresql, nginx-light) or Node the tests skip
with a loud reason; with REQUIRE_SCALEOUT=1 (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import ExitStack

import pytest

from tests.support.cluster import (
    CLUSTER_OPTIONS,
    EXTRA_USERS,
    PASSWORD,
    SCENARIOS,
    Cluster,
    unavailable,
)
from tests.support.daphne import LiveStack
from tests.support.nginx import NGINX_BINARY, Nginx
from tests.support.node import NodeProcess, node_problem
from tests.support.postgres import ThrowawayPostgres, postgres_binaries

# PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> ThrowawayPostgres:
    """A throwaway PostgreSQL cluster for the session (stopped with -m immediate)."""
    binaries = postgres_binaries()
    if binaries is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("running as root but `runuser` is missing")
    try:
        server = ThrowawayPostgres(binaries)
    except KeyError:
        unavailable("running as root but there is no `postgres` system user")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """The URL of an empty database on the throwaway cluster."""
    return postgres_server.create_database("shop")


# nginx -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nginx():
    """Start nginx with deploy/nginx.conf in front of given instances: ``nginx(urls)``."""
    if not os.access(NGINX_BINARY, os.X_OK):
        unavailable(f"no nginx binary at {NGINX_BINARY}")
    started: list[Nginx] = []

    def start(upstreams: list[str]) -> Nginx:
        proxy = Nginx(upstreams)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


# Node ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_available() -> None:
    """Node and @microsoft/signalr, or a loud skip (a failure with REQUIRE_SCALEOUT=1)."""
    problem = node_problem()
    if problem is not None:
        unavailable(problem)


class Scenario:
    """An interactive `watch` scenario: JSON commands in, client state out."""

    def __init__(self, process: NodeProcess) -> None:
        self.process = process
        self.steps: list[tuple[str, dict]] = []

    def next_step(self, names: tuple[str, ...], timeout: float = 60) -> dict:
        """Wait for the next STEP line named one of `names`; fail on "failed"."""
        while True:
            name, _, data = self.process.expect("STEP ", timeout=timeout).partition(" ")
            payload = json.loads(data)
            self.steps.append((name, payload))
            if name == "failed":
                raise AssertionError(f"scenario step failed: {json.dumps(payload)[:4000]}")
            if name in names:
                return payload

    def ready(self, timeout: float = 60) -> list[dict]:
        return self.next_step(("ready",), timeout)["clients"]

    def command(self, cmd: str, timeout: float = 60, **arguments) -> list[dict]:
        """Send a command; return every client's state once it is done."""
        self.process.reply(json.dumps({"cmd": cmd, **arguments}))
        return self.next_step(("state",), timeout)["clients"]

    def stop(self, timeout: float = 30) -> list[dict]:
        self.process.reply(json.dumps({"cmd": "stop"}))
        result = self.process.result(timeout=timeout)
        assert "fatal" not in result, result
        return result["clients"]


@pytest.fixture
def scenario(node_available):
    """Start scenarios.mjs: ``scenario("watch", options)`` (stopped by PID at the end)."""
    with ExitStack() as stack:

        def start(name: str, options: dict) -> Scenario:
            return Scenario(stack.enter_context(NodeProcess(SCENARIOS, name, options)))

        yield start


# Two instances behind nginx ----------------------------------------------------------------


@pytest.fixture(scope="session")
def _cluster(tmp_path_factory, nginx, redis_url, postgres_url) -> Cluster:
    live = LiveStack(
        tmp_path_factory.mktemp("cluster"),
        redis_url,
        asgi="tests.scaleout.asgi:application",
        instances=2,
        database_url=postgres_url,
        realtime_options=CLUSTER_OPTIONS,
        # Plain http on loopback: the admin's session cookie cannot be Secure.
        env={"SESSION_COOKIE_SECURE": "0"},
    )
    # DEBUG is off, as in production: whitenoise serves the collected files.
    live.manage("collectstatic", "--noinput")
    with live:
        live.manage("seed_demo", "--password", PASSWORD)
        cluster = Cluster(live, nginx(live.urls), PASSWORD)
        cluster.create_users(*EXTRA_USERS)
        yield cluster


@pytest.fixture
def cluster(_cluster) -> Cluster:
    """Two daphne instances on one Redis and PostgreSQL, behind nginx round-robin.

    Both instances run when a test starts: one a test killed is started again
    afterwards, and nginx restarted so that it is no longer marked failed.
    """
    yield _cluster
    revived = False
    for i in range(len(_cluster.live.ports)):
        if _cluster.live.pid(i) is None:
            _cluster.live.start(i)
            revived = True
    if revived:
        _cluster.proxy.restart()
