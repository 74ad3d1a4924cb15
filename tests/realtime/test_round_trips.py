"""What opening a connection costs Redis in round trips (real Redis).

Redis counts the requests it reads from its clients (INFO stats,
``total_reads_processed``): a pipeline is one read, each separate command
another. A negotiate writes its registration and its place under the
user's connection limit together, and a starting connection writes the
owner of its id, its presence and its user's group together: one round
trip per shard each, where they were two and three.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from realtime import shards, store, unstarted
from realtime.auth import Identity
from realtime.connection import Connection
from realtime.groups import layer_group_name, presence_member, user_group
from realtime.lifetime.running import get_backplane
from realtime.testing import group_processes
from realtime.transports.admission import Refusal, enrol
from tests.realtime.hubs import EchoHub

SCOPE = {"type": "http", "path": "/hubs/echo/negotiate"}


def _name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


async def _reads() -> int:
    return sum([int((await r.info("stats"))["total_reads_processed"]) for r in shards.every()])


async def _fewest_reads(work: Callable[[], Awaitable[object]], attempts: int = 5) -> int:
    """The fewest requests Redis read for one `work()` in `attempts` (this
    loop's backplane timers may add one to an attempt now and then)."""
    costs = []
    for _ in range(attempts):
        before = await _reads()
        await work()
        # The second INFO is a read of its own on every shard.
        costs.append(await _reads() - before - shards.count())
    return min(costs)


class _Transport:
    name = "test"

    def buffered(self) -> int:
        return 0


async def test_a_starting_connection_writes_its_entries_in_one_round_trip_per_shard():
    backplane = await get_backplane()
    started: list[Connection] = []

    async def start() -> None:
        connection = Connection(
            hub_class=EchoHub, user=None, user_id=_name("user"), connection_id=_name("cid"),
            token=_name("tok"), transport=_Transport(), backplane=backplane,
        )  # fmt: skip
        await connection.start()
        started.append(connection)

    # A new user each time: its group is new to this process, so it is written too.
    assert await _fewest_reads(start) <= shards.count()

    for connection in started:
        assert await store.owner_of(connection.connection_id) == backplane.channel
        assert await store.connections_of(connection.user_id) == [connection.presence_member]
        group = layer_group_name(EchoHub.namespace, user_group(connection.user_id))
        assert connection.joined == {group}
        assert backplane.channel.encode() in await group_processes(group)
        await backplane.detach(connection)
        backplane.forget(connection)
    await backplane.flush_departures()


async def test_a_negotiate_registers_and_reserves_in_one_round_trip_per_shard():
    user = _name("user")
    identity = Identity(user=None, user_id=user)
    enrolled: list[tuple[str, str]] = []

    async def negotiate() -> None:
        token, cid = _name("tok"), _name("cid")
        refusal = await enrol(
            SCOPE, EchoHub, identity, token=token, connection_id=cid, stateful=False
        )
        assert refusal is None
        enrolled.append((token, cid))

    assert await _fewest_reads(negotiate) <= shards.count()

    for token, cid in enrolled:
        registration = await store.lookup(token)
        assert (registration.connection_id, registration.user_id) == (cid, user)
        assert (registration.hub, registration.owner) == (EchoHub.namespace, "")
        await store.forget(token, cid)


async def test_a_negotiate_past_the_user_s_limit_is_refused_and_leaves_no_registration(settings):
    settings.REALTIME = {"MAX_CONNECTIONS_PER_USER": 2}
    user = _name("user")
    identity = Identity(user=None, user_id=user)
    tokens = [(_name("tok"), _name("cid")) for _ in range(3)]

    outcomes = [
        await enrol(SCOPE, EchoHub, identity, token=token, connection_id=cid, stateful=False)
        for token, cid in tokens
    ]

    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], Refusal)
    assert outcomes[2].status == 429
    assert [await store.lookup(token) is not None for token, _ in tokens] == [True, True, False]
    # Nor a place under the limit: with room for three, a third fits.
    member = presence_member(EchoHub.namespace, _name("cid"))
    assert await unstarted.reserve(user, member, limit=3, ttl=30)
    for token, cid in tokens:
        await store.forget(token, cid)


async def test_an_anonymous_negotiate_registers_without_a_limit():
    token, cid = _name("tok"), _name("cid")

    refusal = await enrol(
        SCOPE, EchoHub, Identity(user=None), token=token, connection_id=cid, stateful=True
    )

    assert refusal is None
    registration = await store.lookup(token)
    assert (registration.user_id, registration.stateful) == ("", True)
    await store.forget(token, cid)
