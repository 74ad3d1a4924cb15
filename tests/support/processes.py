"""Paths, polling and stopping the processes a test started (by PID only)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: The repository root: commands run here so that ``manage.py`` and
#: ``import "@microsoft/signalr"`` resolve.
ROOT = Path(__file__).resolve().parent.parent.parent
STOP_TIMEOUT = 10.0


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


def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.05
) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


def stop_process(process: subprocess.Popen | None) -> None:
    """Stop a child with SIGTERM (SIGKILL after STOP_TIMEOUT) and reap it."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def run_child(code: str, *args: str, timeout: float = 90) -> tuple[dict, str]:
    """Run `code` in a fresh interpreter at the root; return the JSON object it
    printed last, and its stderr. For what cannot share the test process (a
    Twisted reactor is never restarted)."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"the child printed nothing:\n{tail(result.stderr)}"
    return json.loads(lines[-1]), result.stderr


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something listens on `port`."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True
