"""The full plan measures idle CPU over whole keep-alive periods of ours and raw websockets."""

import inspect

from websockets.asyncio.server import serve

from bench.plans import FULL
from realtime.conf import RealtimeSettings


def test_the_idle_window_holds_whole_keepalive_periods_of_ours_and_raw_websockets():
    ours = RealtimeSettings().KEEPALIVE_INTERVAL
    raw = inspect.signature(serve).parameters["ping_interval"].default
    window = FULL.idle_cpu_window
    assert window >= max(ours, raw)
    assert window % ours == 0
    assert window % raw == 0
