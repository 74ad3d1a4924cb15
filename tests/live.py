"""Live servers for end-to-end tests: real daphne processes on loopback.

`LiveStack` migrates a throwaway database once, then runs one or more
``daphne`` processes of an ASGI application against a real Redis, each on
its own 127.0.0.1 port with its output in a log file. Every process it
starts is stopped by its PID when the stack exits; nothing else is touched.

`run_node` and `NodeProcess` run Node scripts (the official SignalR client)
from the repository root, so ``import "@microsoft/signalr"`` resolves.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

from config.embedded_redis import free_port

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "live-test-secret-key-5d3c0a6e9f1b4c2d8e7f6a5b4c3d2e1f-not-for-production"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120
#: Variables of the parent environment that would change how the stack behaves.
_DROPPED = (
    "DJANGO_SETTINGS_MODULE",
    "CSRF_TRUSTED_ORIGINS",
    "REALTIME_ALLOWED_ORIGINS",
    "SESSION_COOKIE_SECURE",
    "BEHIND_PROXY",
)


class CommandFailed(subprocess.CalledProcessError):
    """A command exited non-zero; its output is part of the message."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}\n--- stdout ---\n{tail(self.output or '')}"
            f"\n--- stderr ---\n{tail(self.stderr or '')}"
        )


def tail(text: str, lines: int = 60) -> str:
    """Return the last `lines` lines of `text`."""
    return "\n".join(text.splitlines()[-lines:])


class LiveStack:
    """Migrate once, then run `instances` daphne processes until exit."""

    def __init__(
        self,
        workdir: Path,
        redis_url: str,
        *,
        asgi: str = "tests.realtime.asgi:application",
        instances: int = 1,
        database_url: str | None = None,
        env: dict | None = None,
        realtime_options: dict | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.asgi = asgi
        self.env: dict[str, str] = {
            key: value for key, value in os.environ.items() if key not in _DROPPED
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DEBUG": "0",
                "SECRET_KEY": SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": database_url or f"sqlite:///{self.workdir / 'db.sqlite3'}",
                "REDIS_URL": redis_url,
                "LOG_LEVEL": "DEBUG",
                "REALTIME_OPTIONS": json.dumps(realtime_options or {}),
                "PYTHONPATH": str(ROOT),
                # Log files are read while the servers run: no buffering.
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            }
        )
        self.ports = [free_port() for _ in range(instances)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.url = self.urls[0]
        self._processes: list[subprocess.Popen | None] = [None] * instances
        self._log_files: list[IO[bytes] | None] = [None] * instances
        self._migrated = False

    # Context manager -----------------------------------------------------

    def __enter__(self) -> LiveStack:
        try:
            if not self._migrated:
                self.manage("migrate", "--noinput")
                self._migrated = True
            for i in range(len(self.ports)):
                self._launch(i)
            for i in range(len(self.ports)):
                self.wait_ready(i)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for i in range(len(self.ports)):
            self.stop(i)

    # Management commands -------------------------------------------------

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``python manage.py <args>`` with the stack's environment."""
        command = [sys.executable, "manage.py", *args]
        completed = subprocess.run(
            command,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and completed.returncode != 0:
            raise CommandFailed(completed.returncode, command, completed.stdout, completed.stderr)
        return completed

    def shell(self, code: str) -> str:
        """Run `code` through ``manage.py shell -c`` and return its stdout."""
        return self.manage("shell", "--no-imports", "-c", code).stdout

    # Server processes ----------------------------------------------------

    def log_path(self, i: int = 0) -> Path:
        """The file that instance `i` writes its stdout and stderr to."""
        return self.workdir / f"daphne-{i}.log"

    def _launch(self, i: int) -> None:
        process = self._processes[i]
        if process is not None and process.poll() is None:
            raise RuntimeError(f"daphne instance {i} is already running (pid {process.pid})")
        log_file = self.log_path(i).open("ab")
        # realtime.server is daphne with an access log that drops query strings.
        command = [sys.executable, "-m", "realtime.server", "-b", "127.0.0.1"]
        command += ["-p", str(self.ports[i]), self.asgi]
        self._log_files[i] = log_file
        self._processes[i] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT
        )
        logger.info("started daphne %d (pid %d) on %s", i, self._processes[i].pid, self.urls[i])

    def start(self, i: int = 0) -> None:
        """Start instance `i` on its port and wait until it answers /healthz."""
        self._launch(i)
        self.wait_ready(i)

    def stop(self, i: int = 0) -> None:
        """Stop instance `i` with SIGTERM (SIGKILL after 10 s) and wait for it."""
        process = self._processes[i]
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("daphne %d ignored SIGTERM; killing pid %d", i, process.pid)
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        self._close_log(i)

    def kill(self, i: int = 0) -> None:
        """Kill instance `i` with SIGKILL (a crash) and wait for it."""
        process = self._processes[i]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        self._close_log(i)

    def restart(self, i: int = 0) -> None:
        """Stop instance `i`, then start it again on the same port."""
        self.stop(i)
        self.start(i)

    def pid(self, i: int = 0) -> int | None:
        """The PID of instance `i` while it runs."""
        process = self._processes[i]
        return process.pid if process is not None and process.poll() is None else None

    def _close_log(self, i: int) -> None:
        log_file = self._log_files[i]
        if log_file is not None:
            log_file.close()
            self._log_files[i] = None

    def log(self, i: int = 0) -> str:
        """Everything instance `i` printed so far (across restarts)."""
        path = self.log_path(i)
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_ready(self, i: int = 0) -> None:
        """Poll ``GET /healthz`` until it answers 200; raise with the log tail."""
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            process = self._processes[i]
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RuntimeError(
                    f"daphne {i} is not running (exit code {code})\n{tail(self.log(i))}"
                )
            try:
                with urllib.request.urlopen(f"{self.urls[i]}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"daphne {i} not ready after {READY_TIMEOUT:.0f} s ({last})\n{tail(self.log(i))}"
        )


# Node ------------------------------------------------------------------------


def node_problem() -> str | None:
    """Say why the official Node client cannot run here, or None when it can."""
    node = shutil.which("node")
    if node is None:
        return "`node` is not on PATH"
    try:
        subprocess.run(
            [node, "-e", "require.resolve('@microsoft/signalr')"],
            cwd=ROOT,
            capture_output=True,
            timeout=30,
            check=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "@microsoft/signalr is not installed (run `npm install`)"
    return None


def _node_arguments(args: tuple[Any, ...]) -> list[str]:
    return [arg if isinstance(arg, str) else json.dumps(arg) for arg in args]


def _last_json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output")
    return json.loads(lines[-1])


def run_node(script: Path, *args: Any, env: dict | None = None, timeout: float = 60) -> dict:
    """Run a Node script from the repository root; parse its last stdout line as JSON.

    Arguments that are not strings are passed as JSON.
    """
    command = ["node", str(script), *_node_arguments(args)]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise CommandFailed(completed.returncode, command, completed.stdout, completed.stderr)
    try:
        return _last_json_line(completed.stdout)
    except ValueError as exc:
        raise CommandFailed(
            completed.returncode, command, completed.stdout, completed.stderr
        ) from exc


class NodeProcess:
    """A Node script that talks in lines: read what it prints, answer on stdin.

    For scenarios where the test must act while the client is connected
    (restart a server, send from another process): the script prints a line,
    waits for a line on stdin, and finally prints its JSON result.
    """

    def __init__(self, script: Path, *args: Any, env: dict | None = None) -> None:
        self.command = ["node", str(script), *_node_arguments(args)]
        self._env = {**os.environ, **(env or {})}
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.process: subprocess.Popen | None = None
        self._stderr = ""
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> NodeProcess:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        self._stderr = self.process.stderr.read()

    def _failure(self, message: str) -> AssertionError:
        return AssertionError(
            f"{message}\ncommand: {self.command}\n--- stdout ---\n{tail(chr(10).join(self.stdout))}"
            f"\n--- stderr ---\n{tail(self._stderr)}"
        )

    def expect(self, prefix: str, timeout: float = 30) -> str:
        """Wait for a stdout line starting with `prefix`; return the rest of it."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                self.process.wait(timeout=STOP_TIMEOUT)
                for reader in self._readers:
                    reader.join(timeout=STOP_TIMEOUT)
                raise self._failure(f"node exited ({self.process.returncode}) before {prefix!r}")
            self.stdout.append(line)
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise self._failure(f"no {prefix!r} line from node within {timeout} s")

    def reply(self, line: str = "go") -> None:
        """Write one line to the script's stdin."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def result(self, timeout: float = 60) -> dict:
        """Wait for the script to exit 0 and return its last stdout line as JSON."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout.append(line)
        try:
            code = self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise self._failure(f"node still running after {timeout} s") from None
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)
        if code != 0:
            raise self._failure(f"node exited with {code}")
        try:
            return _last_json_line("\n".join(self.stdout))
        except ValueError:
            raise self._failure("the last stdout line of node is not JSON") from None


# HTTP --------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_request(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 30,
) -> tuple[int, dict, bytes]:
    """Send one request without following redirects; return status, headers, body."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def fetch_access_token(base_url: str, username: str, password: str) -> str:
    """Exchange credentials for an access token at ``POST /realtime/token``."""
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, _, payload = http_request("POST", f"{base_url}/realtime/token", data=body)
    if status != 200:
        raise AssertionError(f"POST /realtime/token answered {status}: {payload[:200]!r}")
    return json.loads(payload)["accessToken"]
