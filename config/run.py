"""``python -m config.run``: the development stack as one supervised group.

Starts an embedded Redis unless REDIS_URL is set, then daphne and
``manage.py run_notifier`` under honcho: Ctrl-C stops them all, and a crash
of one is reported and stops the others.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from config.embedded_redis import EmbeddedRedis
from realtime.server.workers import WorkersError, parse_count

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "run"


def web_workers(env: dict[str, str]) -> int:
    """Server processes for ``make run``: WEB_CONCURRENCY, else one per core on PostgreSQL.

    SQLite (the default database here) takes one writer at a time, so the
    development stack runs one process on it unless told otherwise.
    """
    value = env.get("WEB_CONCURRENCY", "")
    if not value:
        value = "auto" if env.get("DATABASE_URL", "").startswith("postgres") else "1"
    return parse_count(value, "WEB_CONCURRENCY")


def main() -> int:
    """Run the stack until Ctrl-C; return the exit code."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    python = shlex.quote(sys.executable)
    env = dict(os.environ)
    try:
        count = web_workers(env)
    except WorkersError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    manager = Manager(Printer(sys.stdout))
    embedded = not env.get("REDIS_URL")
    if embedded:
        redis = EmbeddedRedis(RUN / "redis")
        env["REDIS_URL"] = redis.url
        redis.directory.mkdir(parents=True, exist_ok=True)
        manager.add_process("redis", shlex.join(redis.command()), env=env, cwd=str(ROOT))
        sys.stdout.write(f"Embedded Redis on {redis.url} (set REDIS_URL to use another one)\n")
    else:
        check = subprocess.run(
            [sys.executable, "manage.py", "realtime_check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            sys.stderr.write(check.stderr.strip().splitlines()[-1] + "\n")
            return 2
    wait = f"{python} manage.py realtime_check --wait 10 >/dev/null && exec "
    daphne = f"{python} -m realtime.server --workers {count}"
    daphne += f" -b {shlex.quote(host)} -p {shlex.quote(port)}"
    manager.add_process(
        "web",
        f"{wait}{daphne} config.asgi:application",
        env=env,
        cwd=str(ROOT),
    )
    manager.add_process(
        "notifier", wait + f"{python} manage.py run_notifier --interval 30", env=env, cwd=str(ROOT)
    )
    sys.stdout.write(
        f"Shop at http://{host}:{port}/  (admin: http://{host}:{port}/admin/)  Ctrl-C stops all.\n"
    )
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
