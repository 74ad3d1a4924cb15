"""Clients of the test hubs' audiences, and what each heard (with a positive control)."""

from realtime import hub_context
from realtime.testing import HubCommunicator
from tests.realtime.hubs import HEARD, AudienceHub


async def connected(count: int, hub=AudienceHub, users=None):
    """Connect `count` clients (as `users`, if given); return them and their ids."""
    clients = [HubCommunicator(hub, user=(users or [None] * count)[i]) for i in range(count)]
    ids = []
    for client in clients:
        await client.connect()
        ids.append(await client.invoke("Whoami"))
    return clients, ids


#: Sent to every client after the audience under test: the positive control.
MARKER = ["marker", "end"]


async def heard(clients, ids, hub=AudienceHub) -> list[list | None]:
    """Return what each client heard before the marker, None for those that heard nothing.

    The marker goes to every connection after the send under test, on the
    same path, so a client whose first event is the marker was never sent
    the first, and a test fails if nothing is sent at all.
    """
    await hub_context(hub).clients(ids).asend(HEARD, *MARKER)
    result = []
    for client in clients:
        first = await client.receive_event(HEARD)
        if first == MARKER:
            result.append(None)
            continue
        assert await client.receive_event(HEARD) == MARKER
        result.append(first)
    return result


async def disconnect_all(clients) -> None:
    for client in clients:
        await client.disconnect()
