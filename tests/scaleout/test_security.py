"""Security of the deployment behind nginx: origins, identity, groups, abuse.

The attacks come through nginx (as they would), the abuse goes straight at
one instance so that its memory can be watched, and a bystander's Echo round
trip shows the instance still serves everyone else meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import signing
from redis import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.auth import SALT
from realtime.groups import user_group
from realtime.protocol import Close
from tests.support.cluster import CLUSTER_OPTIONS
from tests.support.daphne import SECRET_KEY
from tests.support.http import http_request, ws
from tests.support.processes import rss_kib, wait_until
from tests.support.signalr import (
    HANDSHAKE,
    HubError,
    HubSocket,
    ask_presence,
    negotiate_connection,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FOREIGN_ORIGINS = ["http://evil.example", "null", "http://127.0.0.1:1"]
#: Memory an instance may keep after an abuse ends (allocator slack, caches).
RSS_SLACK_KIB = 40 * 1024


def session_cookie(cluster, username: str) -> str:
    """A logged-in session of `username`, as a Cookie header value."""
    output = cluster.live.shell(
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "client = Client()\n"
        f"client.force_login(get_user_model().objects.get(username={username!r}))\n"
        "print(client.cookies['sessionid'].value)"
    )
    return f"sessionid={output.split()[-1]}"


async def echo_round_trip(url: str) -> float:
    """Seconds for a bystander to connect, Echo once and leave."""
    started = time.monotonic()
    client = await HubSocket.open(ws(url, "/hubs/echo"), timeout=10)
    try:
        assert await client.invoke("Echo", "still here", timeout=10) == "still here"
    finally:
        await client.close()
    return time.monotonic() - started


def _acao(headers: dict) -> list[str]:
    return [k for k in headers if k.lower() == "access-control-allow-origin"]


# Cross-site WebSocket hijacking ------------------------------------------------------


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
async def test_a_foreign_origin_cannot_open_a_hub_with_the_victim_s_cookie(cluster, origin):
    cookie = await asyncio.to_thread(session_cookie, cluster, "alice")
    url = ws(cluster.url, "/hubs/notifications")

    with pytest.raises(InvalidStatus) as refused:
        await HubSocket.open(url, origin=origin, headers={"Cookie": cookie})
    status, headers, _ = http_request(
        "POST",
        f"{cluster.url}/hubs/notifications/negotiate?negotiateVersion=1",
        headers={"Origin": origin, "Cookie": cookie},
    )
    same_site = await HubSocket.open(url, origin=cluster.url, headers={"Cookie": cookie})
    try:
        mine = await same_site.invoke("GetNotifications", None, 5)
    finally:
        await same_site.close()

    assert refused.value.response.status_code == 403
    assert status == 403
    assert not _acao(headers)
    assert mine  # the same origin with the same cookie is alice, with her notifications


def test_no_hub_response_allows_other_origins(cluster):
    """No Access-Control-Allow-Origin anywhere: other sites cannot read hub answers."""
    hub = f"{cluster.url}/hubs/echo"
    origin = {"Origin": "http://evil.example"}
    token = negotiate_connection(hub)["connectionToken"]
    responses = [
        http_request("POST", f"{hub}/negotiate?negotiateVersion=1", headers=origin),
        http_request("POST", f"{hub}/negotiate?negotiateVersion=1"),
        http_request("OPTIONS", f"{hub}/negotiate", headers=origin),
        http_request("GET", f"{hub}/negotiate", headers=origin),
        http_request("GET", f"{hub}?id={token}"),  # the first poll opens
        http_request("POST", f"{hub}?id={token}", data=HANDSHAKE),
        http_request("GET", f"{hub}?id={token}"),
        http_request("POST", f"{hub}?id={token}", data=b"{}\x1e", headers=origin),
        http_request("DELETE", f"{hub}?id={token}", headers=origin),
        http_request("DELETE", f"{hub}?id={token}"),
    ]

    assert [status for status, _, _ in responses][:2] == [403, 200]
    assert responses[7][0] == 403  # a cross-site send is refused too
    assert all(not _acao(headers) for _, headers, _ in responses)


# No client-chosen identity ---------------------------------------------------------------


def test_another_user_s_connection_cannot_be_used_with_your_own_credentials(cluster):
    hub = f"{cluster.url}/hubs/notifications"
    bob = {"Authorization": f"Bearer {cluster.token('bob')}"}
    alice = {"Authorization": f"Bearer {cluster.token('alice')}"}
    alice_session = {"Cookie": session_cookie(cluster, "alice")}
    reply = negotiate_connection(hub, headers=bob)
    token, public_id = reply["connectionToken"], reply["connectionId"]
    assert http_request("GET", f"{hub}?id={token}", headers=bob)[0] == 200  # opens, as bob
    handshake = HANDSHAKE

    refusals = {
        "alice's token posts to bob's connection": http_request(
            "POST", f"{hub}?id={token}", data=handshake, headers=alice
        )[0],
        "alice's session posts to bob's connection": http_request(
            "POST", f"{hub}?id={token}", data=handshake, headers=alice_session
        )[0],
        "alice polls bob's connection": http_request("GET", f"{hub}?id={token}", headers=alice)[0],
        "alice ends bob's connection": http_request(
            "DELETE", f"{hub}?id={token}", headers=alice_session
        )[0],
        "anonymous post": http_request("POST", f"{hub}?id={token}", data=handshake)[0],
        "the public id instead of the token": http_request(
            "POST", f"{hub}?id={public_id}", data=handshake, headers=bob
        )[0],
    }

    assert refusals == {
        "alice's token posts to bob's connection": 403,
        "alice's session posts to bob's connection": 403,
        "alice polls bob's connection": 403,
        "alice ends bob's connection": 403,
        "anonymous post": 401,
        "the public id instead of the token": 404,
    }
    # Bob himself still can.
    assert http_request("POST", f"{hub}?id={token}", data=handshake, headers=bob)[0] == 200
    assert http_request("DELETE", f"{hub}?id={token}", headers=bob)[0] == 202


def _forged(user_id: int, expires: float, key: str = SECRET_KEY) -> str:
    return signing.dumps({"u": str(user_id), "e": int(expires)}, key=key, salt=SALT)


async def test_a_token_wins_over_the_session_only_when_it_is_valid(cluster):
    hub = f"{cluster.url}/hubs/notifications"
    session = {"Cookie": await asyncio.to_thread(session_cookie, cluster, "alice")}
    bob_token = await asyncio.to_thread(cluster.token, "bob")
    bob_id, alice_id = cluster.users["bob"], cluster.users["alice"]
    tampered = bob_token[:-2] + ("AA" if not bob_token.endswith("AA") else "BB")
    invalid = {
        "tampered": tampered,
        "expired": _forged(bob_id, time.time() - 5),
        "signed with another key": _forged(bob_id, time.time() + 600, key="not-the-secret-key"),
    }
    statuses = {
        label: http_request(
            "POST",
            f"{hub}/negotiate?negotiateVersion=1",
            headers={**session, "Authorization": f"Bearer {token}"},
        )[0]
        for label, token in invalid.items()
    }
    # A valid token with alice's session cookie: the connection is bob's.
    as_bob = await HubSocket.open(
        ws(cluster.url, "/hubs/notifications"), token=bob_token, negotiate=True, headers=session
    )
    try:
        bob_view = await ask_presence(cluster.url, bob_id)
        alice_view = await ask_presence(cluster.url, alice_id)
    finally:
        await as_bob.close()
    # Negotiated as alice (session), then connected with bob's token: refused.
    reply = await asyncio.to_thread(negotiate_connection, hub, headers=session)
    connection_token = urllib.parse.quote(reply["connectionToken"])
    switched = ws(cluster.url, f"/hubs/notifications?id={connection_token}")
    with pytest.raises(InvalidStatus) as refused:
        await HubSocket.open(switched, token=bob_token, headers=session)

    assert statuses == dict.fromkeys(invalid, 401)
    assert f"notifications|{as_bob.connection_id}" in bob_view["connections"]
    assert f"notifications|{as_bob.connection_id}" not in alice_view["connections"]
    assert refused.value.response.status_code == 403


async def test_clients_join_only_the_groups_their_hub_methods_grant(cluster):
    alice_token = await asyncio.to_thread(cluster.token, "alice")
    bob_token = await asyncio.to_thread(cluster.token, "bob")
    bob_order = int(
        (
            await asyncio.to_thread(
                cluster.live.shell,
                "from orders.models import Order\n"
                "print(Order.objects.filter(customer__username='bob').first().pk)",
            )
        ).split()[-1]
    )
    orders = ws(cluster.url, "/hubs/orders")
    alice = await HubSocket.open(orders, token=alice_token)
    bob = await HubSocket.open(orders, token=bob_token)
    alice_notes = await HubSocket.open(ws(cluster.url, "/hubs/notifications"), token=alice_token)
    # Anonymous, on another hub, asking for alice's user group by its name.
    snoop = await HubSocket.open(ws(cluster.url, "/hubs/echo"))
    try:
        refusals = {}
        for name, call in {
            "bob's order": alice.invoke("SubscribeToOrder", bob_order),
            "staff topic": alice_notes.invoke("SubscribeToTopic", "ops"),
            "hook": alice_notes.invoke("OnConnected"),
            "base API": alice_notes.invoke("FindMethod", "x"),
        }.items():
            with contextlib.suppress(HubError):
                await call
                refusals[name] = "accepted"
                continue
            refusals[name] = "refused"
        await snoop.invoke("Join", user_group(cluster.users["alice"]))
        await bob.invoke("SubscribeToOrder", bob_order)
        message = f"Group check {uuid.uuid4().hex}"
        await asyncio.to_thread(
            cluster.live.shell,
            "from django.contrib.auth import get_user_model\n"
            "from notifications import services\n"
            "from orders import services as orders\n"
            "from orders.models import Order\n"
            f"order = Order.objects.get(pk={bob_order})\n"
            f"orders.change_status(order, status='processing', message={message!r})\n"
            "services.send_to_user(get_user_model().objects.get(username='alice'), title='Mine')",
        )
        await bob.event("OrderStatusUpdated", match=lambda *args: args[2] == message)
        await alice_notes.event("ReceiveNotification", match=lambda n: n["title"] == "Mine")
        await asyncio.sleep(0.5)
    finally:
        for client in (alice, bob, alice_notes, snoop):
            await client.close()

    assert refusals == dict.fromkeys(refusals, "refused")
    heard = [args[0] for name, args in alice.events if name == "OrderStatusUpdated"]
    assert str(bob_order) not in heard
    assert not [e for e in snoop.events if e[0] == "ReceiveNotification"]


# Abuse -----------------------------------------------------------------------------------


@pytest.fixture
def victim(cluster):
    """Instance 0, with its resident memory before the abuse."""
    url = cluster.live.urls[0]
    pid = cluster.live.pid(0)
    return url, pid, rss_kib(pid)


def assert_memory_returns(pid: int, baseline: int) -> int:
    """Wait up to 10 s for the RSS to come back near `baseline`; return it."""
    wait_until(lambda: rss_kib(pid) <= baseline + RSS_SLACK_KIB, timeout=10, interval=0.5)
    after = rss_kib(pid)
    assert after <= baseline + RSS_SLACK_KIB, (baseline, after)
    return after


async def test_oversized_frames_and_bodies_are_refused(cluster, victim, report_number):
    url, pid, baseline = victim
    big = await HubSocket.open(ws(url, "/hubs/echo"))
    huge = await HubSocket.open(ws(url, "/hubs/echo"))
    invocation = '{"type":1,"invocationId":"1","target":"Echo","arguments":["%s"]}\x1e'
    await big.send_text(invocation % ("x" * 33 * 1024))
    with contextlib.suppress(ConnectionClosed):  # refused while still being sent
        await huge.send_text(invocation % ("x" * 4 * 1024 * 1024))
    big_close = await big.wait_closed(timeout=10)
    huge_close = await huge.wait_closed(timeout=10)
    bystander = await echo_round_trip(url)
    token = negotiate_connection(f"{cluster.url}/hubs/echo")["connectionToken"]
    over_app_limit = http_request(
        "POST", f"{cluster.url}/hubs/echo?id={token}", data=b"x" * 40 * 1024
    )[0]
    over_proxy_limit = http_request(
        "POST", f"{cluster.url}/hubs/echo?id={token}", data=b"x" * 100 * 1024
    )[0]
    after = assert_memory_returns(pid, baseline)

    report_number(f"oversized frames: RSS {baseline} KiB before, {after} KiB after")
    assert isinstance(big_close, Close)
    assert "exceeds the limit of 32768 bytes" in big_close.error
    # daphne itself drops a WebSocket whose message exceeds 1 MiB, before the
    # app sees it (close code 1009, or 1006 when cut while still sending).
    assert huge_close is None
    assert huge.websocket.close_code in (1006, 1009)
    assert bystander < 5
    assert (over_app_limit, over_proxy_limit) == (413, 413)


async def test_an_invocation_flood_is_rate_limited_then_closed_and_others_are_served(victim):
    """Past MAX_REFUSED_INVOCATIONS refusals in 10 s the flooder is closed with an error."""
    url, pid, baseline = victim
    flooder = await HubSocket.open(ws(url, "/hubs/echo"))
    try:
        flood = asyncio.ensure_future(flooder.invoke_many([("Add", (i, 1)) for i in range(1000)]))
        bystander = await echo_round_trip(url)
        with pytest.raises(ConnectionError):  # the rest is never answered
            await flood
        await asyncio.wait_for(flooder.closed.wait(), 10)
    finally:
        await flooder.close()
    again = await HubSocket.open(ws(url, "/hubs/echo"))
    try:
        still_served = await again.invoke("Add", 2, 2)
    finally:
        await again.close()
    assert_memory_returns(pid, baseline)

    assert flooder.close_message == Close(
        error="Connection closed with an error. Too many refused invocations in 10 s."
    )
    assert still_served == 4
    assert bystander < 5


def test_negotiates_without_connecting_expire(cluster, victim, redis_url, report_number):
    url, pid, baseline = victim
    shards = [Redis.from_url(shard) for shard in redis_url.split()]

    def registered() -> int:
        return sum(1 for r in shards for _ in r.scan_iter(match="rt:conn:*", count=5000))

    before = registered()

    def negotiate_many(count: int) -> int:
        ok = 0
        for _ in range(count):
            ok += http_request("POST", f"{url}/hubs/echo/negotiate?negotiateVersion=1")[0] == 200
        return ok

    peak = peak_rss = 0
    with ThreadPoolExecutor(8) as pool:
        batches = [pool.submit(negotiate_many, 250) for _ in range(8)]
        bystander = asyncio.run(echo_round_trip(url))
        while not all(batch.done() for batch in batches):
            peak, peak_rss = max(peak, registered()), max(peak_rss, rss_kib(pid))
            time.sleep(0.2)
        done = sum(batch.result() for batch in batches)
    expired = wait_until(
        lambda: registered() <= before, timeout=CLUSTER_OPTIONS["NEGOTIATE_TTL"] + 10
    )
    after = assert_memory_returns(pid, baseline)
    for shard in shards:
        shard.close()

    report_number(
        f"{done} negotiates without connecting: registry keys {before} -> {peak} -> "
        f"{registered()} after NEGOTIATE_TTL; RSS {baseline} -> {peak_rss} -> {after} KiB"
    )
    assert done == 2000
    assert peak >= before + 1000  # they pile up while the flood lasts (each lives 4 s)
    assert expired
    assert bystander < 5


async def test_idle_sockets_without_a_handshake_are_closed(victim, report_number):
    url, pid, baseline = victim
    timeout = CLUSTER_OPTIONS["HANDSHAKE_TIMEOUT"]

    async def open_idle() -> tuple:
        socket = await connect(ws(url, "/hubs/echo"), ping_interval=None, proxy=None)
        return socket, time.monotonic()

    idle = await asyncio.gather(*(open_idle() for _ in range(300)))
    bystander = await echo_round_trip(url)
    peak = rss_kib(pid)

    answers: list = []

    async def closed_after(socket, opened: float) -> float:
        with contextlib.suppress(ConnectionClosed):
            while True:  # the handshake's error record, then the close
                answers.append(await asyncio.wait_for(socket.recv(), timeout + 10))
        return time.monotonic() - opened

    delays = await asyncio.gather(*(closed_after(s, opened) for s, opened in idle))
    after = assert_memory_returns(pid, baseline)

    report_number(
        f"300 WebSockets without a handshake closed after {min(delays):.1f}-{max(delays):.1f} s "
        f"(HANDSHAKE_TIMEOUT {timeout} s); RSS {baseline} -> {peak} -> {after} KiB"
    )
    assert all(s.close_code is not None for s, _ in idle)
    assert answers == ['{"error":"Handshake was canceled."}\x1e'] * len(idle)
    assert timeout - 0.2 <= min(delays)
    assert max(delays) <= timeout + 2
    assert bystander < 5


async def test_a_fast_stream_does_not_starve_the_other_clients(cluster):
    url = cluster.live.urls[0]
    # A raw socket that never reads: the server gets no help from back-pressure.
    hog = await connect(ws(url, "/hubs/echo"), ping_interval=None, proxy=None)
    try:
        await hog.send(HANDSHAKE.decode())
        stream = {"type": 4, "invocationId": "s", "target": "Counter", "arguments": [2_000_000]}
        await hog.send(json.dumps(stream) + "\x1e")
        await asyncio.sleep(0.5)
        bystander = await asyncio.wait_for(echo_round_trip(url), 10)
    finally:
        # Whatever happened, the next test gets a fresh instance 0.
        await asyncio.to_thread(cluster.live.kill, 0)
        hog.transport.abort()

    assert bystander < 5
