"""Real parts for the scale-out tests: PostgreSQL, nginx, and a raw SignalR client.

`ThrowawayPostgres` runs a PostgreSQL cluster of its own in a temporary
folder (as the ``postgres`` system user when the tests run as root).
`Nginx` renders the committed deploy/nginx.conf for given daphne instances
and runs it. `Cluster` is two daphne instances (tests/live.py's `LiveStack`)
on one Redis and one PostgreSQL behind nginx. `HubSocket` speaks SignalR
JSON over a raw WebSocket, for checks and loads the official client is not
built for. Every process is started with Popen and stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from config.embedded_redis import free_port
from tests.live import LiveStack, fetch_access_token, http_request, tail

ROOT = Path(__file__).resolve().parent.parent.parent
NGINX_EXAMPLE = ROOT / "deploy" / "nginx.conf"
NGINX_BINARY = os.environ.get("NGINX", "/usr/sbin/nginx")
#: Debian packages that provide the binaries, for the skip message.
APT_PACKAGES = "postgresql nginx-light"
RS = "\x1e"
HANDSHAKE = '{"protocol":"json","version":1}' + RS
STOP_TIMEOUT = 10


def unavailable(problem: str) -> None:
    """Skip loudly, or fail when REQUIRE_SCALEOUT=1 (CI)."""
    message = f"SCALE-OUT TESTS NOT RUN: {problem} (apt-get install {APT_PACKAGES})"
    if os.environ.get("REQUIRE_SCALEOUT") == "1":
        pytest.fail(f"{message} (REQUIRE_SCALEOUT=1)")
    pytest.skip(message)


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
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


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


# PostgreSQL -------------------------------------------------------------------


def postgres_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (PG_BIN, PATH, or Debian's layout)."""
    candidates = [os.environ.get("PG_BIN", "")]
    if found := shutil.which("pg_ctl"):
        candidates.append(str(Path(found).parent))
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: int(re.sub(r"\D", "", p) or 0),
        reverse=True,
    )
    for candidate in filter(None, candidates):
        folder = Path(candidate)
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return folder
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port.

    PostgreSQL refuses to run as root, so as root its binaries run as the
    ``postgres`` system user (runuser) in a folder that user owns.
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="scaleout-pg-"))
        self.data = self.folder / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")  # KeyError: no such user
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        completed = subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if completed.returncode != 0:
            log = self.folder / "postgres.log"
            raise RuntimeError(
                f"{command[0]} failed ({completed.returncode}):\n{completed.stderr}\n"
                f"{tail(log.read_text()) if log.exists() else ''}"
            )

    def start(self) -> ThrowawayPostgres:
        """Create the cluster and start the server; wait until it accepts connections."""
        self._run(
            str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l",
            str(self.folder / "postgres.log"), "-w", "-t", "30", "-o", options, "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl stop -m immediate``) and delete its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                pg_ctl = str(self.binaries / "pg_ctl")
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


# nginx --------------------------------------------------------------------------


def render_site(template: str, upstreams: list[str], port: int) -> str:
    """The committed site config with our daphne instances and listen port."""
    block = re.search(r"upstream shop \{.*?\n\}", template, re.DOTALL)
    if block is None:
        raise ValueError("deploy/nginx.conf has no `upstream shop { ... }` block")
    options = re.search(r"^[ \t]*server\s+\S+\s*([^;]*);", block.group(0), re.MULTILINE)
    servers = "".join(
        f"    server {urlsplit(url).netloc} {options.group(1) if options else ''};\n"
        for url in upstreams
    )
    upstream = re.sub(r"^[ \t]*server\s+[^;]*;\n", "", block.group(0), flags=re.MULTILINE)
    upstream = upstream.replace("{\n", "{\n" + servers, 1)
    site = template.replace(block.group(0), upstream)
    site, count = re.subn(
        r"^([ \t]*)listen\s+\S+", rf"\1listen 127.0.0.1:{port}", site, count=1, flags=re.M
    )
    if not count:
        raise ValueError("deploy/nginx.conf has no listen directive")
    return site


class Nginx:
    """nginx in the foreground with the rendered example config, as our own child."""

    def __init__(self, upstreams: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="scaleout-nginx-"))
        self.access_log = self.folder / "access.log"
        self.error_log = self.folder / "error.log"
        self.process: subprocess.Popen | None = None
        # Workers run as `nobody` when nginx starts as root: they need the
        # temp folders, nothing else (the master opens config and logs).
        self.folder.chmod(0o755)
        temp = []
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.folder / name).mkdir(mode=0o777)
            (self.folder / name).chmod(0o777)
            temp.append(
                f"    {name if name != 'body' else 'client_body'}_temp_path {self.folder / name};"
            )
        (self.folder / "site.conf").write_text(
            render_site(NGINX_EXAMPLE.read_text(), upstreams, self.port)
        )
        (self.folder / "nginx.conf").write_text(
            "worker_processes 1;\n"
            "events { worker_connections 8192; }\n"
            "worker_rlimit_nofile 20000;\n"
            "http {\n"
            "    log_format upstream '$request_method $uri $status $upstream_addr';\n"
            f"    access_log {self.access_log} upstream;\n" + "\n".join(temp) + "\n"
            f"    include {self.folder / 'site.conf'};\n"
            "}\n"
        )

    def start(self, timeout: float = 15) -> Nginx:
        """Start nginx and wait until /healthz answers through it."""
        directives = f"daemon off; pid {self.folder / 'nginx.pid'}; error_log {self.error_log};"
        self.process = subprocess.Popen(
            [NGINX_BINARY, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
             "-g", directives],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        log = self.error_log.read_text() if self.error_log.exists() else ""
        self.stop()
        raise RuntimeError(f"nginx did not come up on {self.url}:\n{tail(log)}")

    def restart(self) -> None:
        """Stop and start again on the same port, so no instance is still marked failed.

        (A reload would leave old workers, with their failure marks, accepting
        for a while.)
        """
        _stop(self.process)
        self.start()

    def stop(self) -> None:
        """Stop nginx (SIGTERM to its master, by PID) and delete its folder."""
        _stop(self.process)
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def upstreams_of(self, method: str, path: str) -> list[str]:
        """The upstream address of each logged request with this method and path."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return [line.split()[-1] for line in lines if line.split()[:2] == [method, path]]


# Two instances behind nginx ----------------------------------------------------------


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


def ws(base_url: str, path: str) -> str:
    """The WebSocket URL of `path` on an http:// base URL."""
    return "ws://" + urlsplit(base_url).netloc + path


def negotiate_connection(
    url: str, *, token: str | None = None, headers: dict | None = None
) -> dict:
    """POST negotiate (version 1) for a hub URL (ws:// or http://); return the reply."""
    parts = urlsplit(url)
    endpoint = f"http://{parts.netloc}{parts.path}/negotiate?negotiateVersion=1"
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, body = http_request("POST", endpoint, headers=headers)
    if status != 200:
        raise HubError(f"negotiate answered {status}: {body[:200]!r}")
    return json.loads(body)


# A raw SignalR JSON client ------------------------------------------------------------


class HubError(Exception):
    """An error Completion."""


class HubSocket:
    """SignalR JSON over one raw WebSocket: invocations, events, Close."""

    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.connection_id: str | None = None
        self.events: list[tuple[str, list]] = []
        self.close_message: dict | None = None
        self.closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        token: str | None = None,
        negotiate: bool = False,
        origin: str | None = None,
        headers: dict | None = None,
        timeout: float = 10,
    ) -> HubSocket:
        """Connect and complete the JSON handshake (refusals raise InvalidStatus).

        With `negotiate`, POST negotiate first (as the official client does)
        and learn the connection id; without, the server picks one unseen.
        """
        connection_id = None
        if negotiate:
            reply = await asyncio.to_thread(negotiate_connection, url, token=token, headers=headers)
            connection_id = reply["connectionId"]
            url += ("&" if "?" in url else "?") + "id=" + quote(reply["connectionToken"])
        if token:
            url += ("&" if "?" in url else "?") + "access_token=" + quote(token, safe="")
        websocket = await connect(
            url,
            origin=origin,
            additional_headers=headers,
            open_timeout=timeout,
            ping_interval=None,
            proxy=None,
            compression=None,
        )
        client = cls(websocket)
        client.connection_id = connection_id
        try:
            await websocket.send(HANDSHAKE)
            first = await asyncio.wait_for(websocket.recv(), timeout)
        except BaseException:
            await websocket.close()
            raise
        reply, _, rest = first.partition(RS)
        if json.loads(reply) != {}:
            await websocket.close()
            raise HubError(f"handshake refused: {reply}")
        client._handle_frame(rest)
        client._reader = asyncio.get_running_loop().create_task(client._read())
        return client

    def _handle_frame(self, data: str) -> None:
        for record in filter(None, data.split(RS)):
            message = json.loads(record)
            kind = message.get("type")
            if kind == 3:
                future = self._pending.pop(message.get("invocationId"), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == 1:
                self.events.append((message["target"], message.get("arguments", [])))
            elif kind == 7:
                self.close_message = message
        self._changed.set()

    async def _read(self) -> None:
        try:
            async for frame in self.websocket:
                self._handle_frame(frame if isinstance(frame, str) else frame.decode())
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._pending.clear()

    async def send_text(self, text: str) -> None:
        """Send a raw text frame."""
        await self.websocket.send(text)

    async def send(self, target: str, *arguments: object) -> None:
        """A non-blocking invocation (no Completion)."""
        await self.send_text(json.dumps({"type": 1, "target": target, "arguments": arguments}) + RS)

    async def invoke(self, target: str, *arguments: object, timeout: float = 10) -> object:
        """Invoke and return the result; HubError on an error Completion."""
        invocation_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        message = {"type": 1, "invocationId": invocation_id, "target": target}
        await self.send_text(json.dumps({**message, "arguments": arguments}) + RS)
        completion = await asyncio.wait_for(future, timeout)
        if "error" in completion:
            raise HubError(completion["error"])
        return completion.get("result")

    async def invoke_many(
        self, calls: list[tuple[str, tuple]], timeout: float = 30, per_frame: int = 100
    ) -> list[dict]:
        """Send invocations back to back, `per_frame` to a frame; return their Completions."""
        loop = asyncio.get_running_loop()
        futures, records = [], []
        for target, arguments in calls:
            invocation_id = str(next(self._ids))
            futures.append(self._pending.setdefault(invocation_id, loop.create_future()))
            message = {"type": 1, "invocationId": invocation_id, "target": target}
            records.append(json.dumps({**message, "arguments": arguments}) + RS)
        for start in range(0, len(records), per_frame):
            await self.send_text("".join(records[start : start + per_frame]))
        return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))

    async def event(self, target: str, timeout: float = 10, match=None) -> list:
        """Wait for the next event `target` (whose arguments satisfy `match`)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, (name, arguments) in enumerate(self.events):
                if name == target and (match is None or match(*arguments)):
                    del self.events[index]
                    return arguments
            if self.closed.is_set():
                raise ConnectionError(f"closed before a {target} event")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {target} event within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_closed(self, timeout: float = 10) -> dict | None:
        """Wait until the server ends the connection; return its Close message."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_message

    async def close(self) -> None:
        """Close the WebSocket and wait for the reader to end."""
        await self.websocket.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, STOP_TIMEOUT)


async def ask_presence(base_url: str, user_id: object) -> dict:
    """Presence of a user as the instance (or nginx) at `base_url` sees it."""
    probe = await HubSocket.open(ws(base_url, "/hubs/presence"))
    try:
        return {
            "server": await probe.invoke("Server"),
            "connections": sorted(await probe.invoke("ConnectionsOf", str(user_id))),
            "online": await probe.invoke("IsOnline", str(user_id)),
            "users": sorted(await probe.invoke("OnlineUsers")),
        }
    finally:
        await probe.close()
