"""Configuration: bad values are one readable line; /healthz tells what is down."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from config.environment import (
    ConfigurationError,
    channel_layers,
    development_secret_key,
    read_database_url,
    read_redis_url,
)
from realtime import conf
from realtime.server.serve import arguments, with_backlog

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DEBUG": "0", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL has an unknown scheme 'nonsense'"),
        (
            {"REDIS_URL": "http://x"},
            "REDIS_URL must start with redis://, rediss://, unix:// or redis+sentinel://",
        ),
        ({"REDIS_URL": "redis://:notaport"}, "REDIS_URL is not a valid URL"),
        (
            {"REDIS_URL": "redis+sentinel://127.0.0.1:26379"},
            "REDIS_URL names no sentinel service",
        ),
        (
            {"REDIS_URL": "redis+sentinel://a:1,b:x/shop"},
            "REDIS_URL has a sentinel that is not host[:port] ('b:x')",
        ),
        (
            {"REDIS_URL": "redis://127.0.0.1:6379/0 redis://127.0.0.1:6379/0"},
            "REDIS_URL names a server twice: 'redis://127.0.0.1:6379/0'",
        ),
        ({"REALTIME_OPTIONS": "{nope"}, "REALTIME_OPTIONS is not valid JSON"),
        ({"CONN_MAX_AGE": "soon"}, "CONN_MAX_AGE must be a whole number of seconds"),
    ],
)
def test_bad_configuration_is_one_readable_line(variables, message):
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", **variables}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Configuration error: {message}")
    assert "Traceback" not in result.stderr


def test_debug_without_secret_key_uses_a_random_key_of_this_checkout():
    """Not a constant anyone could sign tokens with: run/dev-secret-key (git-ignored)."""
    env = {
        **os.environ,
        "DEBUG": "1",
        "SECRET_KEY": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.SECRET_KEY)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = result.stdout.strip()
    assert key == (ROOT / "run" / "dev-secret-key").read_text().strip()
    assert len(key) >= 50
    assert "insecure" not in key
    ignored = subprocess.run(["git", "check-ignore", "-q", "run/dev-secret-key"], cwd=ROOT)
    assert ignored.returncode == 0


def test_development_keys_differ_per_checkout_and_stay_private(tmp_path):
    first = development_secret_key(tmp_path / "a" / "run" / "dev-secret-key")
    second = development_secret_key(tmp_path / "b" / "run" / "dev-secret-key")

    assert first != second
    assert development_secret_key(tmp_path / "a" / "run" / "dev-secret-key") == first
    assert (tmp_path / "a" / "run" / "dev-secret-key").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in (tmp_path / "a" / "run").iterdir()) == ["dev-secret-key"]


def test_unreachable_redis_is_reported_by_realtime_check():
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "realtime_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "CommandError: REDIS_URL: cannot reach Redis at redis://127.0.0.1:1/0"
    )


def test_redis_passwords_never_reach_the_message():
    with pytest.raises(ConfigurationError) as raised:
        read_redis_url("ftp://user:s3cret@host")
    assert "REDIS_URL" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigurationError) as raised:
        read_redis_url("redis+sentinel://:s3cret@a:1,b:2")
    assert "s3cret" not in str(raised.value)
    assert (
        read_redis_url("rediss://:pw@redis.internal:6380/1") == "rediss://:pw@redis.internal:6380/1"
    )


def test_postgres_urls_are_understood():
    database = read_database_url("postgres://shop:pw@db.internal:5432/shop")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", 5432, "shop")


def test_channel_layer_settles_the_redis_py_8_pool_and_timeout_problem():
    (host,) = channel_layers("redis://127.0.0.1:6379/0")["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] is None  # equals the core layer's 5 s BRPOP otherwise
    assert host["max_connections"] >= 1000  # redis-py 8 caps at 100 by default


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"MAX_MESSAGE_SIZE": "big"}, "REALTIME['MAX_MESSAGE_SIZE'] must be int"),
        ({"MAX_MESSAGE_SIZE": 0}, "must be positive"),
        ({"MAX_UNSENT_BYTES": -1}, "REALTIME['MAX_UNSENT_BYTES'] must be positive"),
        ({"MAX_UNSENT_BYTES": 1.5}, "REALTIME['MAX_UNSENT_BYTES'] must be int"),
        ({"MAX_REFUSED_INVOCATIONS": 0}, "REALTIME['MAX_REFUSED_INVOCATIONS'] must be positive"),
        ({"KEEPALIVE_INTERVAL": True}, "must be float"),
        ({"ALLOWED_ORIGINS": "https://x"}, "must be a list of strings"),
        ({"SOMETHING": 1}, "unknown keys: SOMETHING"),
    ],
)
def test_bad_realtime_settings_name_the_key(raw, message):
    with pytest.raises(ImproperlyConfigured, match=None) as raised:
        conf.load(raw)
    assert message in str(raised.value)


def test_realtime_settings_follow_setting_changes(settings):
    settings.REALTIME = {"MAX_MESSAGE_SIZE": 1024}
    assert conf.get().MAX_MESSAGE_SIZE == 1024
    settings.REALTIME = {}
    assert conf.get().MAX_MESSAGE_SIZE == 32 * 1024


@pytest.mark.django_db
def test_healthz_reports_database_and_redis(client, redis_url):
    response = client.get("/healthz")
    assert response.status_code == 200
    port = redis_url.split(":")[-1].split("/")[0]
    assert response.json() == {
        "database": "ok",
        "redis": "ok",
        "redis_primary": f"127.0.0.1:{port}",
        "redis_shards": [f"127.0.0.1:{port}"],
    }


@pytest.mark.django_db
def test_healthz_names_the_failing_part(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "database": "ok",
        "redis": "unavailable",
        "redis_primary": None,
        "redis_shards": [None],
    }


@pytest.mark.django_db
def test_access_tokens_for_non_browser_clients(client, customer):
    refused = client.post("/realtime/token", {"username": "alice", "password": "wrong"})
    assert refused.status_code == 401
    granted = client.post("/realtime/token", {"username": "alice", "password": "alice-pass-1"})
    assert granted.status_code == 200
    assert set(granted.json()) == {"accessToken", "expiresIn"}
    assert client.get("/realtime/token").status_code == 405


@pytest.mark.django_db
def test_metrics_are_for_staff_only(client, customer, staff):
    client.force_login(customer)
    assert client.get("/realtime/metrics").status_code == 302
    client.force_login(staff)
    response = client.get("/realtime/metrics")
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


def test_collectstatic_gathers_the_official_signalr_bundles(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "static" / "vendor" / "signalr" / "signalr.min.js").is_file()
    assert (
        tmp_path / "static" / "vendor" / "signalr-msgpack" / "signalr-protocol-msgpack.min.js"
    ).is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-b", "127.0.0.1", "-p", "8001", "config.asgi:application"],
            ["-e", "tcp:port=8001:interface=127.0.0.1:backlog=2048", "config.asgi:application"],
        ),
        (["-p", "8001", "app"], ["-e", "tcp:port=8001:backlog=2048", "app"]),
        (["-e", "unix:/run/shop.sock", "app"], ["-e", "unix:/run/shop.sock", "app"]),
    ],
)
def test_serve_listens_with_a_deep_accept_queue(args, expected):
    assert with_backlog(args) == expected


def test_serve_lets_websocket_upgrades_wait_as_long_as_a_handshake():
    assert arguments(["-p", "8001", "app"]) == [
        "--websocket_connect_timeout", "15", "-e", "tcp:port=8001:backlog=2048", "app",
    ]  # fmt: skip
    given = ["--websocket_connect_timeout", "30", "-p", "8001", "app"]
    assert arguments(given) == [
        "-e", "tcp:port=8001:backlog=2048", "--websocket_connect_timeout", "30", "app",
    ]  # fmt: skip
    assert arguments([]) == ["--help"]
