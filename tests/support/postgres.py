"""A throwaway PostgreSQL cluster on 127.0.0.1, for the scale-out suite."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from config.embedded_redis import free_port
from tests.support.processes import tail


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
