"""daphne processes on loopback for end-to-end tests.

`LiveStack` migrates a throwaway database once, then runs one or more
``daphne`` processes of an ASGI application against a real Redis, each on
its own 127.0.0.1 port with its output in a log file. Every process it
starts is stopped by its PID when the stack exits; nothing else is touched.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from config.embedded_redis import free_port
from tests.support.processes import ROOT, STOP_TIMEOUT, CommandFailed, tail

logger = logging.getLogger(__name__)

SECRET_KEY = "live-test-secret-key-5d3c0a6e9f1b4c2d8e7f6a5b4c3d2e1f-not-for-production"
READY_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120
#: Variables of the parent environment that would change how the stack behaves.
_DROPPED = (
    "DJANGO_SETTINGS_MODULE",
    "CSRF_TRUSTED_ORIGINS",
    "REALTIME_ALLOWED_ORIGINS",
    "SESSION_COOKIE_SECURE",
    "BEHIND_PROXY",
)


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
        serve_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = Path(workdir).resolve()
        #: Extra arguments of ``realtime.server`` (e.g. ``("--workers", "2")``).
        self.serve_args = serve_args
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
        command += ["-p", str(self.ports[i]), *self.serve_args, self.asgi]
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

    def returncode(self, i: int = 0) -> int | None:
        """The exit code of instance `i` once it ended (None while it runs)."""
        process = self._processes[i]
        return None if process is None else process.poll()

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
