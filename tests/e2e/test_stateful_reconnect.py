"""Stateful reconnect with the official client on one instance (tests/stateful_kit.py).

The hub sees one connection throughout: on_connected once, no
on_disconnected per drop.
"""

from __future__ import annotations

import pytest

from tests.stateful_kit import assert_exactly_once, stream_through_cuts

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_numbered_events_arrive_once_in_order_through_abrupt_drops(
    live, node_available, protocol
):
    result = await stream_through_cuts(live.ports[0], protocol, seed=12)

    assert_exactly_once(result)
    log = live.log()
    assert log.count(f"resumehub on_connected {result['id']}") == 1
    # Stopped by the client at the end: on_disconnected once, not per drop.
    assert log.count(f"resumehub on_disconnected {result['id']}") == 1
