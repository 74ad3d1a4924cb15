"""The run command's supervisor: Redis (embedded or given), daphne and the notifier as one group."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack_env(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return env, port


def _run_until_healthy(env: dict, port: int) -> subprocess.Popen:
    stack = subprocess.Popen(
        [sys.executable, "-m", "config.run"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise AssertionError(f"run command exited: {stack.stdout.read()}")
        if _port_open(port) and _get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
            return stack
        time.sleep(0.3)
    stack.kill()
    raise AssertionError("the stack never became healthy")


def _interrupt(stack: subprocess.Popen) -> str:
    stack.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    try:
        output, _ = stack.communicate(timeout=30)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
    return output


def test_run_command_serves_pages_with_embedded_redis_and_stops_on_ctrl_c(stack_env):
    env, port = stack_env
    stack = _run_until_healthy(env, port)
    base = f"http://127.0.0.1:{port}"
    status, body = _get(f"{base}/healthz")
    health = json.loads(body)
    assert (status, health["database"], health["redis"]) == (200, "ok", "ok")
    assert health["redis_primary"].startswith("127.0.0.1:")
    assert _get(f"{base}/")[0] == 302
    assert _get(f"{base}/admin/login/")[0] == 200
    output = _interrupt(stack)
    assert "Embedded Redis on redis://127.0.0.1:" in output
    for name in ("redis", "web", "notifier"):
        assert f"{name} stopped" in output
    assert not _port_open(port)


def test_run_command_uses_a_given_redis(stack_env, redis_url):
    env, port = stack_env
    env["REDIS_URL"] = redis_url
    stack = _run_until_healthy(env, port)
    output = _interrupt(stack)
    assert "Embedded Redis" not in output
    assert "redis stopped" not in output
    assert "web stopped" in output


def test_run_command_refuses_an_unreachable_redis_in_one_line(stack_env):
    env, _ = stack_env
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    result = subprocess.run(
        [sys.executable, "-m", "config.run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]
    assert "REDIS_URL: cannot reach Redis" in result.stderr
