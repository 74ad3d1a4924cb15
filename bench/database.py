"""The bench database: a migrated and seeded SQLite template, copied per contender.

Our server needs a database: it is migrated once into a template file and
copied for each contender, so every contender starts from the same rows.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.servers import COMMAND_TIMEOUT, PASSWORD, ROOT, base_env

logger = logging.getLogger(__name__)

#: Seconds the seeded access tokens stay valid. A full run takes over an
#: hour on a shared machine, longer than the server's default, and every
#: contender opens with tokens minted at the start.
TOKEN_MAX_AGE = 24 * 3600


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py <args>`` and return stdout; raise with its output on failure."""
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


SEED = """
import json
from django.contrib.auth import get_user_model, BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from notifications.models import Topic
from orders.models import Order
from realtime.auth import issue_access_token

User = get_user_model()
count, cookies, out = {count}, {cookies}, {out!r}
password = make_password({password!r})
with transaction.atomic():
    User.objects.bulk_create(
        User(username=f"bench-{{i:05d}}", password=password) for i in range(count)
    )
    customer = User.objects.create(username="bench-customer", password=password)
    topic = Topic.objects.create(slug="bench", name="Bench", audience="everyone")
    order = Order.objects.create(customer=customer, number="BENCH-1")
    users = list(User.objects.filter(username__startswith="bench-0").order_by("username"))
    # Returning users: their page's SubscribeToTopic("bench") on connect
    # finds them subscribed (reads only), as on every reconnect.
    topic.subscribers.add(*users)

    def session(user):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        return store.session_key

    data = {{
        "tokens": [issue_access_token(u) for u in users],
        "cookies": [session(u) for u in users] if cookies else [],
        "customer": {{"username": customer.username, "cookie": session(customer)}},
        "order": order.pk,
    }}
with open(out, "w") as f:
    json.dump(data, f)
"""


class Database:
    """A migrated and seeded SQLite template, copied per contender."""

    def __init__(self, workdir: Path, redis_url: str, users: int, cookies: bool) -> None:
        self.workdir = workdir
        self.template = workdir / "template.sqlite3"
        env = base_env(
            redis_url,
            {
                "DATABASE_URL": f"sqlite:///{self.template}",
                "REALTIME_OPTIONS": json.dumps({"ACCESS_TOKEN_MAX_AGE": TOKEN_MAX_AGE}),
            },
        )
        started = time.monotonic()
        manage(env, "migrate", "--noinput")
        out = workdir / "credentials.json"
        manage(
            env,
            "shell",
            "--no-imports",
            "-c",
            SEED.format(count=users, cookies=cookies, out=str(out), password=PASSWORD),
        )
        self.credentials = json.loads(out.read_text())
        logger.info("seeded %d users in %.1f s", users, time.monotonic() - started)

    def copy(self, name: str) -> str:
        """Return a DATABASE_URL of a fresh copy of the template."""
        target = self.workdir / f"{name}.sqlite3"
        shutil.copyfile(self.template, target)
        for suffix in ("-wal", "-shm"):
            if Path(f"{self.template}{suffix}").exists():
                shutil.copyfile(f"{self.template}{suffix}", f"{target}{suffix}")
        return f"sqlite:///{target}"
