"""``python -m bench.fanout_loop``: the fan-out loop's CPU per recipient, with
and without stateful reconnect, in one process and alternating, so that a
busy machine hits both alike.

The end-to-end comparison is the ``ours-daphne-stateful`` contender of
``python -m bench run`` (delivered msg/s at N); on a shared machine its
noise is larger than the difference. This isolates what stateful reconnect
adds per recipient: `LocalTables.fan_out` (the real loop, pre-encoded frames
and all) writes to N connections whose transport takes a frame and returns
at once, as daphne's frame writer does when the socket keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import django

#: Recipients per broadcast, and broadcasts per variant.
SIZE = 5000
ROUNDS = 30


class _Writer:
    """A WebSocket transport whose frame writer returns at once."""

    name = "WebSockets"
    text_only = False
    send_event = None

    def write_frame(self, frame: bytes) -> int:
        return 0

    def buffered(self) -> int:
        return 0


async def measure(size: int, rounds: int) -> dict[str, list[float]]:
    """Return µs of CPU per recipient of each broadcast, per variant."""
    from realtime.connection import OPEN  # after django.setup()
    from realtime.lifetime.local import LocalTables
    from realtime.lifetime.publish import encode_frames
    from realtime.protocol import PROTOCOLS
    from realtime.resumable import ResumableConnection
    from realtime.stateful import MessageBuffer
    from tests.realtime.hubs import EchoHub

    async def no_redis(group: str) -> None:
        """The tables' group callbacks: nothing to register here."""

    tables = LocalTables(group_started=no_redis, group_emptied=lambda group: None)

    def connections(stateful: bool) -> set:
        made = set()
        for i in range(size):
            connection = ResumableConnection(
                hub_class=EchoHub, user=None, user_id="", connection_id=f"c{i}",
                token=f"t{i}", transport=_Writer(), backplane=None,
            )  # fmt: skip
            connection.state, connection.protocol = OPEN, PROTOCOLS["json"]
            if stateful:
                connection.stateful = MessageBuffer(100_000)
            made.add(connection)
        return made

    variants = {"without": connections(False), "with": connections(True)}
    frames = encode_frames("ReceiveNotification", [{"seq": 1, "title": "x" * 150}])
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        order = list(variants) if round_ % 2 else list(variants)[::-1]
        for name in order:
            began = time.process_time()
            await tables.fan_out(variants[name], frames, set(), time.time(), "bench")
            cpu[name].append((time.process_time() - began) / size * 1e6)
        for connection in variants["with"]:  # the clients acknowledge
            connection.stateful.ack(connection.stateful.sent)
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_loop", description=__doc__)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    cpu = asyncio.run(measure(args.size, args.rounds))
    for name, values in cpu.items():
        print(
            f"{name} stateful reconnect: {statistics.median(values):.2f} µs per recipient "
            f"(min {min(values):.2f}, {args.rounds} broadcasts to {args.size:,})"
        )


if __name__ == "__main__":
    main()
