"""realtime/ stands alone: its tests pass in a Django project without the shop.

The tests of tests/realtime run again in a child pytest with
`tests.realtime.standalone.settings` (auth, contenttypes, sessions,
channels and realtime; no orders, no notifications, no config/ URLs), so
that an import of an app or of the site's configuration from realtime/
fails here. The modules left out are listed with the reason, and each must
really use the shop.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests" / "realtime"
SETTINGS = "tests.realtime.standalone.settings"

#: Modules of tests/realtime that need the shop, and why.
NEED_THE_SHOP = {
    "test_abusive_clients.py": "a live daphne serving the whole project (tests.support.daphne)",
    "test_epoch.py": "rebuilt registries checked with the shop's hubs",
    "test_http_bodies.py": "the project's routes (tests.realtime.asgi)",
    "test_routing.py": "the project's routes (tests.realtime.asgi)",
    "test_sentinel.py": "the site's channel layer (config.environment) and its /healthz",
}
SHOP_MODULES = ("orders", "notifications", "config", "tests.realtime.asgi", "tests.support.daphne")


def imported_modules(path: Path) -> set[str]:
    """Return the modules a file imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def uses_the_shop(path: Path) -> bool:
    """Return whether a test module imports an app, config/ or the whole project."""
    return any(
        name == shop or name.startswith(f"{shop}.")
        for name in imported_modules(path)
        for shop in SHOP_MODULES
    )


def test_only_modules_that_use_the_shop_are_left_out():
    for name in NEED_THE_SHOP:
        assert uses_the_shop(TESTS / name), f"{name} does not use the shop: run it standalone"


def test_realtime_tests_pass_in_a_project_without_the_shop():
    # Its own Redis and its own test database: the two runs share nothing.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    ignored = [f"--ignore={TESTS / name}" for name in NEED_THE_SHOP]
    options = ["-p", "no:cacheprovider", "-o", "addopts=", "-x", "-rfE"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS), f"--ds={SETTINGS}", *options, *ignored],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )

    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert f"settings: {SETTINGS} (from option)" in result.stdout
    assert " passed" in result.stdout.splitlines()[-1]
