"""Timers, limits and access tokens of a connection, over the real transport."""

import asyncio
import json
import time

import pytest
from django.core import signing

from realtime.auth import SALT, issue_access_token
from realtime.testing import HubCommunicator, HubError
from tests.realtime.hubs import EchoHub, SecureHub

pytestmark = pytest.mark.django_db(transaction=True)

RS = "\x1e"


@pytest.fixture
def fast_timers(settings):
    settings.REALTIME = {
        "KEEPALIVE_INTERVAL": 0.3,
        "CLIENT_TIMEOUT": 1.2,
        "HANDSHAKE_TIMEOUT": 0.6,
        "PRESENCE_TTL": 3,
    }


async def test_idle_connections_get_pings(fast_timers):
    client = HubCommunicator(EchoHub)
    await client.connect()
    frame = await client.receive_raw(timeout=3)
    assert json.loads(frame.rstrip(RS)) == {"type": 6}
    await client.disconnect()


async def test_a_silent_client_is_closed_after_the_client_timeout(fast_timers):
    client = HubCommunicator(EchoHub)
    await client.connect()
    close = await client.receive_close(timeout=5)
    assert close["error"].startswith("Server timeout elapsed")
    await client.disconnect()


async def test_a_socket_without_handshake_is_told_and_closed(fast_timers):
    client = HubCommunicator(EchoHub)
    await client.open()
    assert await client.receive_raw(timeout=5) == ('{"error":"Handshake was canceled."}' + RS)
    output = await client.receive_output(timeout=5)
    assert output["type"] == "websocket.close"


async def test_handshake_may_arrive_in_pieces_with_a_message_behind_it():
    client = HubCommunicator(EchoHub)
    await client.open()
    await client.send_raw('{"protocol":"js')
    await client.send_raw(
        'on","version":1}'
        + RS
        + '{"type":1,"invocationId":"7","target":"Add","arguments":[1,2]}'
        + RS
    )
    handshake = await client.receive_raw(timeout=5)
    assert handshake == "{}" + RS
    completion = json.loads((await client.receive_raw(timeout=5)).rstrip(RS))
    assert completion == {"type": 3, "invocationId": "7", "result": 3}
    await client.disconnect()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("{not json" + RS, "Connection closed with an error."),
        ('{"type":1}' + RS, "Missing required property 'target'."),
        ('{"type":3,"invocationId":"nope"}' + RS, "the server made no such request"),
        ("x" * 40_000 + RS, "exceeds the limit of 32768 bytes"),
    ],
)
async def test_protocol_violations_close_with_an_error(frame, error):
    client = HubCommunicator(EchoHub)
    await client.connect()
    await client.send_raw(frame)
    close = await client.receive_close()
    assert error in close["error"]
    assert close.get("allowReconnect") is None
    await client.disconnect()


async def test_unknown_message_types_are_passed_over_as_aspnetcore_does():
    """HubProtocol.md lets later versions add message types; old peers ignore them."""
    client = HubCommunicator(EchoHub)
    await client.connect()
    await client.send_raw('{"type":99,"future":true}' + RS)
    await client.send_raw('{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}' + RS)
    completion = json.loads((await client.receive_raw(timeout=5)).rstrip(RS))
    assert completion == {"type": 3, "invocationId": "1", "result": 3}
    await client.disconnect()


async def test_invocation_floods_are_refused_with_a_clear_error(settings):
    settings.REALTIME = {"MAX_INVOCATIONS_PER_SECOND": 5.0}
    client = HubCommunicator(EchoHub)
    await client.connect()
    results = []
    for _ in range(30):
        try:
            results.append(await client.invoke("Echo", 1))
        except HubError as exc:
            results.append(str(exc))
    assert "Too many invocations; slow down." in results
    assert results[:10] == [1] * 10  # the burst allowance (twice the rate)
    await asyncio.sleep(0.5)
    assert await client.invoke("Echo", 2) == 2  # refills with time
    await client.disconnect()


async def test_group_limit_per_connection(settings):
    settings.REALTIME = {"MAX_GROUPS_PER_CONNECTION": 3}
    client = HubCommunicator(EchoHub)
    await client.connect()
    for name in ("a", "b", "c"):
        await client.invoke("Join", name)
    with pytest.raises(HubError, match="at most 3 groups"):
        await client.invoke("Join", "d")
    await client.invoke("Join", "a")  # already a member: no new slot needed
    await client.disconnect()


async def test_long_invocation_ids_are_refused(settings):
    client = HubCommunicator(EchoHub)
    await client.connect()
    await client.send_raw(
        json.dumps({"type": 1, "invocationId": "9" * 100, "target": "Echo", "arguments": [1]}) + RS
    )
    close = await client.receive_close()
    assert "Invocation id is too long." in close["error"]
    await client.disconnect()


async def test_access_tokens_authenticate_and_expire(customer, settings):
    settings.REALTIME = {"ACCESS_TOKEN_MAX_AGE": 1, "KEEPALIVE_INTERVAL": 0.3, "CLIENT_TIMEOUT": 30}
    token = issue_access_token(customer)
    client = HubCommunicator(SecureHub, headers=[(b"authorization", f"Bearer {token}".encode())])
    await client.connect()
    assert await client.invoke("Whoami") == "alice"
    close = await client.receive_close(timeout=5)
    assert close == {"type": 7, "error": "The access token has expired.", "allowReconnect": True}
    await client.disconnect()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        signing.dumps({"u": "1", "e": int(time.time()) + 60}, salt="another-salt"),
        signing.dumps({"u": "1", "e": int(time.time()) - 1}, salt=SALT),
        signing.dumps({"u": "999999", "e": int(time.time()) + 60}, salt=SALT),
        signing.dumps({"u": "1", "e": "tomorrow"}, salt=SALT),
        signing.dumps({"u": "1", "e": None}, salt=SALT),
        signing.dumps(["1", int(time.time()) + 60], salt=SALT),
        # Well formed, but no such user: refused at the user's load.
        signing.dumps({"u": "999999", "e": int(time.time()) + 60, "s": "x"}, salt=SALT),
        signing.dumps({"u": "not-a-number", "e": int(time.time()) + 60, "s": "x"}, salt=SALT),
    ],
)
async def test_bad_access_tokens_are_refused(token, customer):
    client = HubCommunicator(SecureHub, headers=[(b"authorization", f"Bearer {token}".encode())])
    with pytest.raises(ConnectionRefusedError):
        await client.connect()


async def test_the_access_token_of_a_deactivated_user_is_refused(customer):
    token = issue_access_token(customer)
    customer.is_active = False
    await customer.asave(update_fields=["is_active"])
    client = HubCommunicator(SecureHub, headers=[(b"authorization", f"Bearer {token}".encode())])
    with pytest.raises(ConnectionRefusedError):
        await client.connect()


async def test_foreign_origins_are_refused_and_same_origin_allowed():
    foreign = HubCommunicator(
        EchoHub, headers=[(b"origin", b"https://evil.example"), (b"host", b"shop.test")]
    )
    with pytest.raises(ConnectionRefusedError):
        await foreign.connect()
    same = HubCommunicator(
        EchoHub, headers=[(b"origin", b"http://shop.test"), (b"host", b"shop.test")]
    )
    assert await same.connect() == {}
    await same.disconnect()


async def test_a_client_that_keeps_sending_refused_invocations_is_closed(settings):
    settings.REALTIME = {"MAX_REFUSED_INVOCATIONS": 20}
    client = HubCommunicator(EchoHub)
    await client.connect()
    errors = []
    for _ in range(20):
        with pytest.raises(HubError) as refused:
            await client.invoke("NoSuchMethod")
        errors.append(str(refused.value))
    assert set(errors) == {"Unknown hub method 'NoSuchMethod'"}
    await client.send_raw(json.dumps({"type": 1, "target": "NoSuchMethod", "arguments": []}) + RS)
    close = await client.receive_close()
    assert close == {
        "type": 7,
        "error": "Connection closed with an error. Too many refused invocations in 10 s.",
    }
    await client.disconnect()


async def test_refusals_by_the_hub_itself_do_not_close_the_connection(settings):
    settings.REALTIME = {"MAX_REFUSED_INVOCATIONS": 5}
    client = HubCommunicator(EchoHub)
    await client.connect()
    for _ in range(10):
        with pytest.raises(HubError, match="not allowed"):
            await client.invoke("Refuse", "not allowed")
    assert await client.invoke("Add", 1, 2) == 3
    await client.disconnect()


async def test_repeated_refusals_are_one_log_line_then_a_count(caplog):
    caplog.set_level("INFO", logger="realtime")
    client = HubCommunicator(EchoHub)
    await client.connect()
    target = "Missing\n2026-01-01 00:00:00 WARNING forged " + "A" * 30_000
    record = json.dumps({"type": 1, "target": target, "arguments": []}) + RS
    for _ in range(50):
        await client.send_raw(record)
    assert await client.invoke("Add", 1, 1) == 2  # every flood message was handled
    await client.disconnect()

    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2, lines
    first, count = lines
    assert first.startswith("refused Missing\\n2026-01-01 00:00:00 WARNING forged AAA")
    assert "…[+" in first
    assert len(first) < 500
    assert count.startswith("refused 49 more invocations from ")
    assert "\n" not in first
