"""nginx with the committed deploy/nginx.conf, in front of given daphne instances."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from config.embedded_redis import free_port
from tests.support.processes import ROOT, stop_process, tail

NGINX_EXAMPLE = ROOT / "deploy" / "nginx.conf"
NGINX_BINARY = os.environ.get("NGINX", "/usr/sbin/nginx")


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
        stop_process(self.process)
        self.start()

    def stop(self) -> None:
        """Stop nginx (SIGTERM to its master, by PID) and delete its folder."""
        stop_process(self.process)
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def upstreams_of(self, method: str, path: str) -> list[str]:
        """The upstream address of each logged request with this method and path."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return [line.split()[-1] for line in lines if line.split()[:2] == [method, path]]
