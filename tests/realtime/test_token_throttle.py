"""``POST /realtime/token`` throttles failures per username and per address (real Redis)."""

import logging

import pytest
import redis

from realtime.throttle import client_address

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/realtime/token"
LIMITS = {"TOKEN_FAILURES_PER_USERNAME": 3, "TOKEN_FAILURES_PER_ADDRESS": 6}


@pytest.fixture
def counters(redis_url, settings):
    """The Redis failure counters, empty before and after each test.

    Behind a trusted proxy, so X-Forwarded-For gives each request its address.
    """
    settings.REALTIME = {**LIMITS, "TOKEN_FAILURE_WINDOW": 120}
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    connection = redis.Redis.from_url(redis_url.split()[0])  # they live on the first shard

    def keys() -> list[bytes]:
        return list(connection.scan_iter("rt:fail:*"))

    for key in keys():
        connection.delete(key)
    yield keys
    for key in keys():
        connection.delete(key)
    connection.close()


async def attempt(async_client, username: str, password: str, address: str = "10.0.0.1"):
    return await async_client.post(
        URL, {"username": username, "password": password}, headers={"X-Forwarded-For": address}
    )


async def test_a_username_is_locked_after_repeated_failures(async_client, customer, counters):
    for _ in range(3):
        assert (await attempt(async_client, "alice", "wrong")).status_code == 401

    locked = await attempt(async_client, "alice", "alice-pass-1")  # even the right password
    assert locked.status_code == 429
    assert 100 < int(locked["Retry-After"]) <= 120
    assert locked.json() == {"error": "Too many failed attempts; try again later."}
    # The lock is the username's: from another address too, not for other users.
    assert (await attempt(async_client, "ALICE", "alice-pass-1", "10.9.9.9")).status_code == 429
    assert (await attempt(async_client, "bob", "wrong")).status_code == 401


async def test_a_success_clears_the_usernames_failures(async_client, customer, counters):
    for _ in range(2):
        await attempt(async_client, "alice", "wrong")
    assert (await attempt(async_client, "alice", "alice-pass-1")).status_code == 200
    for _ in range(2):
        assert (await attempt(async_client, "alice", "wrong")).status_code == 401


async def test_an_address_guessing_many_usernames_is_locked(async_client, customer, counters):
    for i in range(6):
        assert (await attempt(async_client, f"user{i}", "guess")).status_code == 401

    assert (await attempt(async_client, "alice", "alice-pass-1")).status_code == 429
    assert (await attempt(async_client, "alice", "alice-pass-1", "10.0.0.2")).status_code == 200


async def test_the_cost_of_an_attacker_is_bounded(async_client, counters, caplog):
    """1,000 guesses with new usernames from one address: a few counters, a few log lines."""
    with caplog.at_level(logging.DEBUG, logger="realtime"):
        statuses = [
            (await attempt(async_client, f"victim{i}", "guess")).status_code for i in range(1000)
        ]

    assert statuses.count(401) == 6
    assert statuses.count(429) == 994
    assert len(counters()) == 1 + 6  # the address, and the usernames tried before the lock
    warnings = [r for r in caplog.records if r.name.startswith("realtime") and r.levelno >= 30]
    assert len(warnings) == 6
    assert "too many failures" in warnings[-1].getMessage()


@pytest.mark.parametrize(
    ("meta", "behind_proxy", "address"),
    [
        ({"REMOTE_ADDR": "10.0.0.1"}, False, "10.0.0.1"),
        ({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, False, "10.0.0.1"),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "9.9.9.9, 1.2.3.4"}, True, "1.2.3.4"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, False, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "::ffff:10.1.2.3"}, False, "10.1.2.3"),
    ],
)
def test_failures_count_against_the_address_the_server_or_its_proxy_saw(
    rf, settings, meta, behind_proxy, address
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if behind_proxy else None
    assert client_address(rf.post(URL, **meta)) == address
