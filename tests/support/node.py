"""The official SignalR client in Node: scripts run from the repository root.

`run_node` runs a script to its end; `NodeProcess` talks with one in lines
while the test acts. Both run from the repository root, so
``import "@microsoft/signalr"`` resolves.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, STOP_TIMEOUT, CommandFailed, tail

#: The official client's scenario runner (one scenario per e2e test).
CLIENT = ROOT / "tests" / "e2e" / "client.mjs"


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
