"""Stateful reconnect in Chromium: the official browser bundle through TCP cuts.

The same scenario as the Node client's (tests/stateful_kit.py): 1,000
numbered events and 60 invocations while the connection is reset 20 times.
"""

from __future__ import annotations

import pytest

from tests.stateful_kit import assert_exactly_once, stream_in_page

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_numbered_events_arrive_once_in_order_in_the_browser(live, contexts, protocol):
    page = contexts().new_page()

    result = stream_in_page(page, live.ports[0], protocol, seed=8)

    assert_exactly_once(result)
    log = live.log()
    assert log.count(f"resumehub on_connected {result['id']}") == 1
    assert log.count(f"resumehub on_disconnected {result['id']}") == 1
