"""ASP.NET Core's IHubClients audiences across two instances on one Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.realtime.hubs import HEARD
from tests.support.http import ws
from tests.support.signalr import HubSocket

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _heard(socket: HubSocket) -> list[str]:
    return sorted(f"{kind}:{text}" for name, (kind, text) in socket.events if name == HEARD)


async def _settle(sockets: list[HubSocket], expected: list[list[str]], timeout: float) -> list:
    """Return what each socket heard once it matches `expected` or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while (heard := [_heard(s) for s in sockets]) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return heard


async def test_every_audience_reaches_exactly_its_connections_on_both_instances(cluster):
    a, b = cluster.live.urls
    sockets = [await HubSocket.open(ws(url, "/hubs/audience")) for url in (a, b, a, b)]
    ids = [await socket.invoke("Whoami") for socket in sockets]
    room = f"room-{uuid.uuid4().hex[:8]}"
    try:
        await sockets[0].invoke("ToOthers", "1")
        await sockets[1].invoke("ToAllExcept", [ids[2], ids[3]], "2")
        for socket in sockets[:3]:
            await socket.invoke("Join", room)
        await sockets[3].invoke("ToGroupExcept", room, [ids[0]], "3")
        await sockets[0].invoke("ToClients", [ids[1], ids[3]], "4")
        expected = [
            ["all_except:2"],
            ["all_except:2", "clients:4", "group_except:3", "others:1"],
            ["group_except:3", "others:1"],
            ["clients:4", "others:1"],
        ]
        assert await _settle(sockets, expected, timeout=10) == expected
        await asyncio.sleep(0.5)  # anything sent to a wrong connection arrives too
        assert [_heard(s) for s in sockets] == expected
    finally:
        for socket in sockets:
            await socket.close()
