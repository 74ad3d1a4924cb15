"""What ``REDIS_URL`` names: Redis servers, each one server or a primary found through Sentinel.

``REDIS_URL`` holds one URL, or several separated by whitespace: one per
shard (`parse_all`). Each URL takes one of two forms, and the forms may be
mixed (a shard behind Sentinel next to a plain one):

- ``redis://[[user]:password@]host[:port][/db]`` (also ``rediss://`` and
  ``unix://``): one server, as redis-py reads it;
- ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``:
  the sentinels (port 26379 by default) that watch the primary called
  `service`. Clients ask the sentinels for the primary's address whenever
  they connect, so they follow a failover by themselves. The user and
  password are those of the Redis servers; the sentinels take none.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)
#: Seconds to wait for a sentinel's answer (they answer from memory).
SENTINEL_TIMEOUT = 2.0


class RedisUrlError(ValueError):
    """`REDIS_URL` cannot be used; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """The Redis a URL names: `url` itself, or a Sentinel service."""

    url: str
    #: (host, port) of each sentinel; empty for a plain URL.
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def server_options(self) -> dict:
        """Return what a connection to the primary needs besides its address."""
        return {"db": self.db, "username": self.username, "password": self.password}


def parse_all(urls: str) -> tuple[RedisTarget, ...]:
    """Return the shards `urls` (whitespace-separated) names, in order, or raise RedisUrlError.

    The order is part of the shard map: every process must list the same
    servers in the same order.
    """
    targets = tuple(parse(url) for url in urls.split())
    if not targets:
        raise RedisUrlError("names no Redis server")
    seen = set()
    for target in targets:
        where = (target.sentinels, target.service) if target.uses_sentinel else target.url
        if where in seen:
            raise RedisUrlError(f"names a server twice: {redacted(target.url)!r}")
        seen.add(where)
    return targets


def parse(url: str) -> RedisTarget:
    """Return the target `url` names, or raise RedisUrlError."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES[:-1])
        raise RedisUrlError(
            f"must start with {known} or {SENTINEL_SCHEME}:// (got {redacted(url)!r})"
        )
    if scheme == SENTINEL_SCHEME:
        return _parse_sentinel(url, rest)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a non-numeric port)
    except ValueError:
        raise RedisUrlError(f"is not a valid URL: {redacted(url)!r}") from None
    if scheme != "unix" and not parts.hostname:
        raise RedisUrlError(f"has no host: {redacted(url)!r}")
    if scheme == "unix" and not parts.path:
        raise RedisUrlError(f"has no socket path: {redacted(url)!r}")
    return RedisTarget(url)


def _parse_sentinel(url: str, rest: str) -> RedisTarget:
    if "?" in rest or "#" in rest:
        raise RedisUrlError(
            f"takes no query or fragment after the sentinel service: {redacted(url)!r}"
        )
    credentials, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    sentinels = tuple(_host_port(url, entry) for entry in hosts.split(","))
    service, _, db = path.partition("/")
    if not service:
        raise RedisUrlError(f"names no sentinel service (…/service[/db]): {redacted(url)!r}")
    if db and not db.isdigit():
        raise RedisUrlError(f"has a database that is not a number: {redacted(url)!r}")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    return RedisTarget(
        url,
        sentinels=sentinels,
        service=unquote(service),
        db=int(db or 0),
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def _host_port(url: str, entry: str) -> tuple[str, int]:
    host, colon, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
    if not host or (colon and not port.isdigit()) or not 0 < int(port or SENTINEL_PORT) < 65536:
        raise RedisUrlError(
            f"has a sentinel that is not host[:port] ({entry!r}): {redacted(url)!r}"
        )
    return host, int(port or SENTINEL_PORT)


def redacted(url: str) -> str:
    """Return `url` (or a whitespace-separated list of URLs) without passwords."""
    if len(url.split()) > 1:
        return " ".join(map(redacted, url.split()))
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
