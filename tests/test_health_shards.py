"""/healthz and realtime_check name every Redis shard's primary, and the one that does not answer.

/healthz is the site's (config.health), so this lives with the shop's tests,
not in realtime/'s own suite (which runs without the shop).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from config.embedded_redis import EmbeddedRedis


@pytest.mark.django_db
def test_healthz_and_realtime_check_report_every_shard(client, settings, tmp_path):
    servers = [EmbeddedRedis(tmp_path / f"r{i}").start() for i in range(3)]
    try:
        settings.REDIS_URL = " ".join(s.url for s in servers)
        addresses = [f"127.0.0.1:{s.port}" for s in servers]
        checked = io.StringIO()
        call_command("realtime_check", stdout=checked)
        lines = checked.getvalue().splitlines()
        assert lines[:3] == [
            f"Redis shard {n} of 3 answers at {s.url}; the primary is {address}."
            for n, (s, address) in enumerate(zip(servers, addresses, strict=True), start=1)
        ]
        assert client.get("/healthz").json()["redis_shards"] == addresses

        servers[1].kill()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["redis_shards"] == [addresses[0], None, addresses[2]]
        with pytest.raises(CommandError, match=f"cannot reach Redis at {servers[1].url}"):
            call_command("realtime_check")
    finally:
        for server in servers:
            server.stop()
