"""A process records the groups it holds members of again in batches (real Redis)."""

from realtime import store
from realtime.testing import group_processes


async def test_every_group_is_recorded_again_across_batches():
    groups = [f"user:{n}" for n in range(store.BATCH * 2 + 7)]
    await store.add_to_groups(groups, "proc-a")
    await store.add_to_groups(groups[:3], "proc-b")
    members = [await group_processes(group) for group in groups]
    assert members[:3] == [{b"proc-a", b"proc-b"}] * 3
    assert members[3:] == [{b"proc-a"}] * (len(groups) - 3)


async def test_a_refresh_with_no_groups_writes_nothing():
    await store.add_to_groups([], "proc-a")
