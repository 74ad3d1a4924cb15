"""Parked connections in Redis: saved by their owner, claimed once, expired once."""

import asyncio
import uuid

import pytest

from realtime import parked_store, shards, store
from realtime.stateful import Snapshot
from realtime.testing import group_processes

SNAPSHOT = Snapshot(
    sent=5, acked=3, lost_through=0, received=7, next_receive=8, frames=(b"four", b"five")
)


def token() -> str:
    return uuid.uuid4().hex


async def save(token: str, *, owner: str = "proc-a", park: str = "p1", **overrides) -> tuple:
    arguments = {
        "connection_id": f"cid-{token}",
        "hub": "resumehub",
        "user_id": "7",
        "owner": owner,
        "park": park,
        "protocol": "json",
        "groups": ["g1", "g2"],
        "message_ids": ["m1", "m2"],
        "snapshot": SNAPSHOT,
        "resumable": True,
        "ttl": 30,
        **overrides,
    }
    return await parked_store.save(token, **arguments)


async def claim(token: str, claimer: str = "proc-b") -> tuple:
    return await parked_store.claim(
        token, connection_id=f"cid-{token}", claimer=claimer, transport="WebSockets", ttl=60
    )


async def test_a_claim_returns_what_was_saved_and_moves_the_registry_entry():
    name = token()
    await store.register(name, connection_id=f"cid-{name}", hub="resumehub", user_id="7", ttl=60)
    assert await save(name) == (parked_store.SAVED, "")

    outcome, parked = await claim(name)

    assert outcome == parked_store.CLAIMED
    assert parked.snapshot == SNAPSHOT
    assert (parked.connection_id, parked.hub, parked.user_id) == (f"cid-{name}", "resumehub", "7")
    assert (parked.owner, parked.protocol) == ("proc-a", "json")
    assert parked.groups == ("g1", "g2")
    assert parked.message_ids == {"m1", "m2"}
    registration = await store.lookup(name)
    assert (registration.owner, registration.transport) == ("proc-b", "WebSockets")
    assert await store.owner_of(f"cid-{name}") == "proc-b"


async def test_only_one_of_many_concurrent_claims_wins():
    name = token()
    await save(name)

    outcomes = await asyncio.gather(*(claim(name, f"proc-{i}") for i in range(10)))

    assert [o for o, _ in outcomes].count(parked_store.CLAIMED) == 1
    assert await claim(name) == (parked_store.UNKNOWN, None)


async def test_the_old_owner_learns_of_the_claim_instead_of_saving():
    name = token()
    await save(name)
    await claim(name, "proc-b")

    assert await save(name) == (parked_store.CLAIMED, "proc-b")
    assert await parked_store.expire(name, owner="proc-a", park="p1") == (
        parked_store.CLAIMED,
        "proc-b",
    )


async def test_the_claimer_may_park_it_again_and_the_old_owner_then_hands_over_to_it():
    name = token()
    await save(name)
    await claim(name, "proc-b")

    assert await save(name, owner="proc-b", park="p2") == (parked_store.SAVED, "")
    assert await save(name, owner="proc-a", park="p1") == (parked_store.CLAIMED, "proc-b")
    outcome, parked = await claim(name, "proc-a")
    assert (outcome, parked.owner) == (parked_store.CLAIMED, "proc-b")


async def test_a_late_save_of_a_claimed_park_is_refused_even_on_the_same_process():
    name = token()
    await save(name, owner="proc-a", park="p1")
    await claim(name, "proc-a")  # resumed where it was parked

    assert await save(name, owner="proc-a", park="p1") == (parked_store.CLAIMED, "proc-a")


async def test_an_expiry_ends_it_once_and_a_later_claim_finds_nothing():
    name = token()
    await save(name)

    assert await parked_store.expire(name, owner="proc-a", park="p1") == (parked_store.UNKNOWN, "")
    assert await claim(name) == (parked_store.UNKNOWN, None)


async def test_a_connection_that_lost_frames_cannot_be_claimed_and_is_forgotten():
    name = token()
    await save(name, resumable=False)

    assert await claim(name) == (parked_store.LOST, None)
    assert await claim(name) == (parked_store.UNKNOWN, None)


@pytest.mark.parametrize("ttl", [2, 30])
async def test_the_state_lives_as_long_as_the_window(ttl):
    name = token()
    await save(name, ttl=ttl)

    hash_key, frames_key = parked_store.state_keys(name)
    redis = shards.client_for(hash_key)  # both on the token's shard
    for key in (hash_key, frames_key):
        assert ttl <= await redis.ttl(key) <= ttl + 1


async def test_keys_never_contain_the_token():
    name = token()
    await save(name)

    redis = shards.client_for(parked_store.state_keys(name)[0])
    keys = [k.decode() async for k in redis.scan_iter(match="rt:parked:*")]
    assert keys
    assert not any(name in k for k in keys)


async def test_the_claimer_joins_the_groups_in_the_claim_itself():
    """From the claim on, broadcasts reach the claimer, however soon the old owner leaves."""
    name = token()
    groups = [f"g1-{name}", f"g2-{name}"]
    await save(name, groups=groups)

    await claim(name, "proc-b")

    for group in groups:
        assert await group_processes(group) == {b"proc-b"}


async def test_a_claim_that_loses_leaves_the_groups_it_joined_for_it():
    """Only one claimer wins; the other leaves the groups again, but not one it holds."""
    name = token()
    groups = [f"g1-{name}", f"g2-{name}"]
    await save(name, groups=groups)
    assert (await claim(name, "proc-b"))[0] == parked_store.CLAIMED

    outcome, _ = await parked_store.claim(
        name, connection_id=f"cid-{name}", claimer="proc-c", transport="WebSockets", ttl=60,
        holds=lambda group: group == groups[1],
    )  # fmt: skip

    assert outcome == parked_store.UNKNOWN
    assert await group_processes(groups[0]) == {b"proc-b"}
    assert await group_processes(groups[1]) == {b"proc-b", b"proc-c"}
