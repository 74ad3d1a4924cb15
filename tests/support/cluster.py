"""Two daphne instances on one Redis and one PostgreSQL behind nginx.

Also the scale-out suite's constants, so tests import them from here rather
than from a conftest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest

from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token
from tests.support.nginx import Nginx
from tests.support.processes import ROOT

#: Debian packages that provide the binaries, for the skip message.
APT_PACKAGES = "postgresql nginx-light"
#: The Node scenarios of the scale-out suite.
SCENARIOS = ROOT / "tests" / "scaleout" / "scenarios.mjs"
PASSWORD = "scaleout-pass-1"
#: Short timers so that expiry can be watched within a test; one user opens
#: 1,000 clients (and reconnects them) in the reconnect-storm test.
CLUSTER_OPTIONS = {
    "PRESENCE_TTL": 6,
    "NEGOTIATE_TTL": 3,
    "HANDSHAKE_TIMEOUT": 2,
    "MAX_CONNECTIONS_PER_USER": 5000,
    "STATS_INTERVAL": 1,
}
#: Customers besides seed_demo's alice and bob: one per test that needs its own.
EXTRA_USERS = (
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
)


def unavailable(problem: str) -> None:
    """Skip loudly, or fail when REQUIRE_SCALEOUT=1 (CI)."""
    message = f"SCALE-OUT TESTS NOT RUN: {problem} (apt-get install {APT_PACKAGES})"
    if os.environ.get("REQUIRE_SCALEOUT") == "1":
        pytest.fail(f"{message} (REQUIRE_SCALEOUT=1)")
    pytest.skip(message)


@dataclass
class Cluster:
    """daphne instances on one Redis and one PostgreSQL, behind nginx."""

    live: LiveStack
    proxy: Nginx
    password: str
    users: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proxy.url

    def token(self, username: str) -> str:
        """An access token for `username`, fetched through nginx."""
        return fetch_access_token(self.url, username, self.password)

    def create_users(self, *names: str) -> None:
        """Create customers (password: the cluster's) and learn every user's id."""
        output = self.live.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for name in {list(names)!r}:\n"
            "    if not User.objects.filter(username=name).exists():\n"
            f"        User.objects.create_user(name, password={self.password!r})\n"
            "print(json.dumps(dict(User.objects.values_list('username', 'pk'))))"
        )
        self.users = json.loads(output.strip().splitlines()[-1])

    def connection_logged_on(self, connection_id: str) -> list[int]:
        """The instances whose log shows a hub request of this connection."""
        mark = f"connection={connection_id}"
        return [i for i in range(len(self.live.ports)) if mark in self.live.log(i)]

    def instance_of(self, connection_id: str) -> int | None:
        """The instance that runs a connection (from its "connected" log line)."""
        mark = f"connected {connection_id} "
        for i in range(len(self.live.ports)):
            if mark in self.live.log(i):
                return i
        return None
