"""Validation of environment variables, so bad configuration reads as one line."""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from realtime import redis_url


class ConfigurationError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable} {problem}")


def development_secret_key(path: Path) -> str:
    """Return this checkout's development key from `path`, made at random on first use.

    Only for DEBUG without SECRET_KEY. A key known to everyone (a constant in
    the code) would let anyone who reaches a development server sign an
    access token for any user. The file is written whole and linked into
    place, so processes starting at once (`make run`) agree on one key.
    """
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ConfigurationError("SECRET_KEY", f"is unset and {path} is empty")
    return key


def read_database_url(url: str) -> dict:
    """Return Django's DATABASES entry for `url`, or raise ConfigurationError."""
    scheme = urlsplit(url).scheme
    if scheme not in environ.Env.DB_SCHEMES:
        known = ", ".join(sorted(s for s in environ.Env.DB_SCHEMES if "+" not in s))
        raise ConfigurationError(
            "DATABASE_URL", f"has an unknown scheme {scheme!r} (use one of: {known})"
        )
    try:
        return environ.Env.db_url_config(url)
    except (ValueError, KeyError, environ.ImproperlyConfigured) as exc:
        raise ConfigurationError("DATABASE_URL", f"is not a valid database URL ({exc})") from None


def read_seconds(variable: str, raw: str) -> int:
    """Return a whole number of seconds (0 or more), or raise ConfigurationError."""
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(variable, f"must be a whole number of seconds, got {raw!r}")
    return value


def read_choice(variable: str, raw: str, choices: tuple[str, ...]) -> str:
    """Return `raw` if it is one of `choices`, else raise ConfigurationError."""
    if raw not in choices:
        raise ConfigurationError(variable, f"must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def read_redis_url(url: str) -> str:
    """Return `url` if it names usable Redis servers (or Sentinel services), one
    per shard and separated by whitespace, else raise ConfigurationError."""
    try:
        redis_url.parse_all(url)
    except redis_url.RedisUrlError as exc:
        raise ConfigurationError("REDIS_URL", str(exc)) from None
    return url


def channel_layers(url: str) -> dict:
    """Return CHANNEL_LAYERS for the channels-redis core layer on the Redis servers `url` names.

    Every shard is a host: channels_redis spreads channels over them by a
    hash of the channel name.

    redis-py 8 caps a pool at 100 connections and times reads out after 5 s,
    which equals the core layer's 5 s blocking pop: under load consumers died
    with TimeoutError (redis/redis-py#4091). No read timeout and a large pool
    remove both failure modes. Capacity is per channel; the realtime layer
    uses one channel per process, so it is sized for bursts of broadcasts.
    """
    return {
        "default": {
            "BACKEND": "realtime.channel_layer.ShardedRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        **_layer_address(target),
                        "socket_timeout": None,
                        "socket_connect_timeout": 5,
                        "max_connections": 2000,
                        "health_check_interval": 30,
                    }
                    for target in redis_url.parse_all(url)
                ],
                "prefix": "shop",
                "capacity": 100,
                "channel_capacity": {"realtime.*": 20000},
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }


def _layer_address(target: redis_url.RedisTarget) -> dict:
    """Return where channels_redis finds a Redis: the URL, or the Sentinel service."""
    if not target.uses_sentinel:
        return {"address": target.url}
    return {
        "master_name": target.service,
        "sentinels": list(target.sentinels),
        "sentinel_kwargs": {
            "socket_timeout": redis_url.SENTINEL_TIMEOUT,
            "socket_connect_timeout": redis_url.SENTINEL_TIMEOUT,
        },
        **target.server_options(),
    }
