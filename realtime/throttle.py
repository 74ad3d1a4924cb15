"""Throttling of failed sign-ins at ``POST /realtime/token``.

Failures are counted in Redis per username and per client address, each in a
window that starts at its first failure (TOKEN_FAILURE_WINDOW). Past
TOKEN_FAILURES_PER_USERNAME or TOKEN_FAILURES_PER_ADDRESS, attempts are
answered 429 with Retry-After until the window ends, whatever the password:
guessing costs an attacker the window per few tries, on every instance.

The cost is bounded: one small expiring counter per username and per
address (an IPv6 client counts as its /64 network, which one attacker
usually holds whole), and an address past its limit adds no more counters.
A success clears its username's counter, not its address's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

from realtime import conf
from realtime.redis_pool import client
from realtime.store import key, secret

USERNAME, ADDRESS = "u", "a"

# Count a failure; the count expires ARGV[1] seconds after the first.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def client_address(request: Any) -> str:
    """Return the address failures are counted against.

    Behind a trusted proxy (BEHIND_PROXY=1, i.e. SECURE_PROXY_SSL_HEADER), the
    last X-Forwarded-For entry: the address the proxy itself saw.
    """
    address = request.META.get("REMOTE_ADDR") or ""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        address = forwarded.rsplit(",", 1)[-1].strip() or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _username(username: str) -> str:
    return username.strip().casefold()


async def retry_after(username: str, address: str) -> int:
    """Return the seconds to wait before another attempt, 0 when one is allowed."""
    settings_ = conf.get()
    wait = 0
    for kind, name, limit in (
        (ADDRESS, address, settings_.TOKEN_FAILURES_PER_ADDRESS),
        (USERNAME, _username(username), settings_.TOKEN_FAILURES_PER_USERNAME),
    ):
        count, ttl = await _failures(kind, name)
        if count >= limit:
            wait = max(wait, ttl, 1)
    return wait


async def failed(username: str, address: str) -> bool:
    """Count a failed attempt against the username and the address.

    Return True when this failure locked either of them (log it once then,
    not on every refused attempt after).
    """
    settings_ = conf.get()
    window = settings_.TOKEN_FAILURE_WINDOW
    by_address = await _count_failure(ADDRESS, address, window)
    by_username = await _count_failure(USERNAME, _username(username), window)
    return (
        by_address == settings_.TOKEN_FAILURES_PER_ADDRESS
        or by_username == settings_.TOKEN_FAILURES_PER_USERNAME
    )


async def succeeded(username: str) -> None:
    """Clear the username's failures after a successful sign-in."""
    await client().delete(_failure_key(USERNAME, _username(username)))


def _failure_key(kind: str, name: str) -> str:
    # Usernames and addresses are named by digest, as connection tokens are.
    return key("fail", kind, secret(name))


async def _count_failure(kind: str, name: str, window: float) -> int:
    return int(await client().eval(_COUNT, 1, _failure_key(kind, name), int(window)))


async def _failures(kind: str, name: str) -> tuple[int, int]:
    redis, name = client(), _failure_key(kind, name)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = await pipe.execute()
    return int(count or 0), max(int(ttl), 0)
