"""Revocation reaches live connections: logout, password change, deactivation, expiry.

Real daphne, raw WebSockets and the official client. The first stack runs two
instances, and the revocation starts in another process (a request to the
other instance, or a shell), so it travels through Redis. Its re-check
interval is 10 minutes: what closes the connections within seconds is the
revocation message, not the periodic re-check.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token, http_request
from tests.support.signalr import HANDSHAKE, Records, assert_closed, invocation

pytestmark = pytest.mark.e2e

PASSWORD = "bob-pass-1"
SECURE = "/hubs/secure"
CLOSE_WITHIN = 10.0


def create_user(stack: LiveStack, username: str, password: str) -> None:
    stack.shell(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({username!r}, password={password!r})"
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url) -> LiveStack:
    options = {"KEEPALIVE_INTERVAL": 2, "CLIENT_TIMEOUT": 30, "SESSION_RECHECK_INTERVAL": 600}
    with LiveStack(
        tmp_path_factory.mktemp("revocation"), redis_url, instances=2, realtime_options=options
    ) as live:
        yield live


_users = itertools.count(1)


@pytest.fixture
def bob(stack) -> str:
    """A fresh user per test (a revoked one cannot be reused); password PASSWORD."""
    username = f"bob{next(_users)}"
    create_user(stack, username, PASSWORD)
    return username


def login(stack: LiveStack, username: str, password: str) -> dict:
    """Log in through Django's login view; return the cookies (session and CSRF)."""
    with urllib.request.urlopen(f"{stack.url}/accounts/login/", timeout=30) as page:
        jar = {}
        for value in page.headers.get_all("Set-Cookie") or ():
            key, _, val = value.split(";", 1)[0].partition("=")
            jar[key] = val
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.read()).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf.decode()}
    ).encode()
    status = post_form(stack, "/accounts/login/", body, jar)
    assert status == 302, status
    assert jar.get("sessionid"), jar
    return jar


def post_form(stack: LiveStack, path: str, body: bytes, jar: dict) -> tuple[int, dict, bytes]:
    """POST a form with the cookies of `jar`; keep the cookies the answer sets."""
    request = urllib.request.Request(
        f"{stack.url}{path}",
        data=body,
        method="POST",
        headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items() if v),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    for value in headers.get_all("Set-Cookie") or ():
        key, _, val = value.split(";", 1)[0].partition("=")
        jar[key] = val.strip('"')
    return status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def logout(stack: LiveStack, jar: dict) -> None:
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": jar["csrftoken"]}).encode()
    status = post_form(stack, "/accounts/logout/", body, dict(jar))
    assert status == 302, status


def session_headers(stack: LiveStack, jar: dict, instance: int = 0) -> dict:
    return {"Cookie": f"sessionid={jar['sessionid']}", "Origin": stack.urls[instance]}


def hub_url(stack: LiveStack, instance: int = 0, path: str = SECURE) -> str:
    return f"ws://{urlsplit(stack.urls[instance]).netloc}{path}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def hub_socket(stack: LiveStack, headers: dict, username: str, instance: int = 0):
    """An open WebSocket to SecureHub on one instance, proven to be `username`."""
    async with connect(hub_url(stack, instance), additional_headers=headers) as websocket:
        records = Records(websocket)
        await websocket.send((HANDSHAKE + invocation("1", "Whoami")).decode())
        assert await records.next() == {}
        assert await records.next_not_ping() == {"type": 3, "invocationId": "1", "result": username}
        yield websocket, records


async def assert_revoked(websocket, records: Records, reason: str) -> float:
    """Assert a Close with `reason` and no reconnect arrives; return how long it took."""
    started = time.monotonic()
    close = await records.next_not_ping(timeout=CLOSE_WITHIN)
    elapsed = time.monotonic() - started
    assert close == {"type": 7, "error": f"Connection closed with an error. {reason}"}
    await assert_closed(websocket)
    return elapsed


async def assert_refused(stack: LiveStack, headers: dict, instance: int = 0) -> None:
    """The credential opens nothing any more: negotiate 401, WebSocket refused."""
    negotiate = f"{stack.urls[instance]}{SECURE}/negotiate?negotiateVersion=1"
    status, _, _ = await asyncio.to_thread(http_request, "POST", negotiate, headers=headers)
    assert status == 401
    with pytest.raises(InvalidStatus) as refused:
        async with connect(hub_url(stack, instance), additional_headers=headers):
            pass
    assert refused.value.response.status_code in (401, 403)


async def still_answers(records: Records, websocket, invocation_id: str, username: str) -> None:
    await websocket.send(invocation(invocation_id, "Whoami").decode())
    answer = await records.next_not_ping()
    assert answer == {"type": 3, "invocationId": invocation_id, "result": username}


async def test_logout_closes_that_sessions_connections_and_the_cookie_opens_no_more(stack, bob):
    username = bob
    ended, other = login(stack, username, PASSWORD), login(stack, username, PASSWORD)
    async with (
        hub_socket(stack, session_headers(stack, ended, 1), username, 1) as (ws, records),
        hub_socket(stack, session_headers(stack, other), username) as (other_ws, other_records),
    ):  # the logout request goes to instance 0
        await asyncio.to_thread(logout, stack, ended)

        await assert_revoked(ws, records, "The user signed out.")
        await still_answers(other_records, other_ws, "2", username)  # another session stays
    await assert_refused(stack, session_headers(stack, ended))
    await assert_refused(stack, session_headers(stack, ended, 1), instance=1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("user.set_password('a-new-pass-2')", "The user's password changed."),
        ("user.is_active = False", "The user was deactivated."),
    ],
)
async def test_password_change_and_deactivation_close_every_connection(stack, bob, change, reason):
    """Changed in another process (a shell), closed in daphne: sessions and tokens alike."""
    username = bob
    jar = login(stack, username, PASSWORD)
    token = await asyncio.to_thread(fetch_access_token, stack.url, username, PASSWORD)
    async with (
        hub_socket(stack, session_headers(stack, jar), username) as (session_ws, session_records),
        hub_socket(stack, bearer(token), username, 1) as (token_ws, token_records),
    ):
        await asyncio.to_thread(
            stack.shell,
            "from django.contrib.auth import get_user_model\n"
            f"user = get_user_model().objects.get(username={username!r})\n"
            f"{change}\nuser.save()",
        )

        for websocket, records in ((session_ws, session_records), (token_ws, token_records)):
            await assert_revoked(websocket, records, reason)
    await assert_refused(stack, session_headers(stack, jar))
    await assert_refused(stack, bearer(token))


def test_the_official_client_is_closed_and_does_not_reconnect(stack, bob, node_process):
    username = bob
    token = fetch_access_token(stack.url, username, PASSWORD)
    client = node_process(
        "untilClosed",
        {"url": f"{stack.url}{SECURE}", "accessToken": token, "delays": [0, 100, 200]},
    )
    client.expect("STEP connected")
    stack.shell(
        "from django.contrib.auth import get_user_model\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "user.set_password('a-new-pass-2')\nuser.save()"
    )
    client.reply()
    result = client.result()

    assert result["whoami"] == username
    assert result["closed"] == {"ok": True}, result
    assert result["events"] == [
        "closed: Error: Server returned an error on close: "
        "Connection closed with an error. The user's password changed."
    ]
    assert result["state"] == "Disconnected"


@pytest.fixture(scope="module")
def rechecking_stack(tmp_path_factory, redis_url) -> LiveStack:
    options = {"KEEPALIVE_INTERVAL": 2, "CLIENT_TIMEOUT": 30, "SESSION_RECHECK_INTERVAL": 1}
    with LiveStack(tmp_path_factory.mktemp("recheck"), redis_url, realtime_options=options) as live:
        yield live


async def test_an_expired_session_closes_its_connection_at_the_next_recheck(rechecking_stack):
    stack = rechecking_stack
    create_user(stack, "carol", "carol-pass-1")
    jar = login(stack, "carol", "carol-pass-1")
    await asyncio.to_thread(
        stack.shell,
        "from importlib import import_module\nfrom django.conf import settings\n"
        f"session = import_module(settings.SESSION_ENGINE).SessionStore({jar['sessionid']!r})\n"
        "session.load()\nsession.set_expiry(4)\nsession.save()",
    )
    async with hub_socket(stack, session_headers(stack, jar), "carol") as (ws, records):
        elapsed = await assert_revoked(
            ws, records, "The session or access token is no longer valid."
        )
    assert elapsed < 4 + CLOSE_WITHIN
    await assert_refused(stack, session_headers(stack, jar))


async def test_a_bulk_deactivation_without_signals_is_caught_by_the_recheck(rechecking_stack):
    """queryset.update() sends no signal: the periodic re-check closes token connections."""
    stack = rechecking_stack
    create_user(stack, "dave", "dave-pass-1")
    token = await asyncio.to_thread(fetch_access_token, stack.url, "dave", "dave-pass-1")
    async with hub_socket(stack, bearer(token), "dave") as (ws, records):
        await asyncio.to_thread(
            stack.shell,
            "from django.contrib.auth import get_user_model\n"
            "get_user_model().objects.filter(username='dave').update(is_active=False)",
        )
        await assert_revoked(ws, records, "The session or access token is no longer valid.")


async def test_a_topic_made_staff_only_stops_reaching_customers_who_subscribed_before(stack, bob):
    """Staff restrict a topic: the admin's send path reaches staff, not the customer."""
    staffer = f"staff-{bob}"
    topic = f"news-{bob}"
    stack.shell(
        "from django.contrib.auth import get_user_model\n"
        "from notifications.models import Topic\n"
        f"get_user_model().objects.create_user({staffer!r}, password={PASSWORD!r}, is_staff=True)\n"
        f"Topic.objects.create(slug={topic!r}, name='News')"
    )
    customer = session_headers(stack, login(stack, bob, PASSWORD))
    staff = session_headers(stack, login(stack, staffer, PASSWORD))
    path = "/hubs/notifications"
    async with (
        connect(hub_url(stack, 0, path), additional_headers=customer) as customer_ws,
        connect(hub_url(stack, 0, path), additional_headers=staff) as staff_ws,
    ):
        sockets = ((customer_ws, Records(customer_ws)), (staff_ws, Records(staff_ws)))
        for websocket, records in sockets:
            await websocket.send((HANDSHAKE + invocation("1", "SubscribeToTopic", topic)).decode())
            assert await records.next() == {}
            assert (await records.next_not_ping())["target"] == "UnreadCountUpdated"
            assert await records.next_not_ping() == {"type": 3, "invocationId": "1"}

        await asyncio.to_thread(
            stack.shell,
            "from notifications import services\nfrom notifications.models import Topic\n"
            f"topic = Topic.objects.get(slug={topic!r})\n"
            "topic.audience = Topic.Audience.STAFF\ntopic.save()\n"
            "services.broadcast_to_topic(topic, title='STAFF ONLY')",
        )

        staff_records = sockets[1][1]
        event = await staff_records.next_not_ping(timeout=10)
        assert event["target"] == "ReceiveNotification"
        assert event["arguments"][0]["title"] == "STAFF ONLY"
        customer_records = sockets[0][1]
        with pytest.raises(TimeoutError):
            await customer_records.next_not_ping(timeout=2)
        await customer_ws.send(invocation("2", "SubscribeToTopic", topic).decode())
        refused = await customer_records.next_not_ping()
        assert refused["invocationId"] == "2"
        assert refused["error"].endswith("HubException: Not authorized for this topic")
