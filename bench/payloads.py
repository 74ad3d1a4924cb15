"""The broadcast every contender sends: about 200 bytes of JSON with a timestamp.

All processes run on one machine, so ``time.time()`` at the sender and at
the receiver are comparable and a receipt's latency is their difference.
"""

from __future__ import annotations

import json

EVENT = "BenchEvent"
SIZE = 200
#: Round-trip payloads carry a negative sequence number.
RPC_SEQ = -1
_ORDER_PREFIX = "bench:"


def make(seq: int, sent: float, size: int = SIZE) -> dict:
    """Return a payload whose compact JSON is `size` bytes long."""
    body = {"seq": seq, "ts": sent, "pad": ""}
    body["pad"] = "x" * max(0, size - len(encode(body)))
    return body


def encode(body: dict) -> str:
    """Compact JSON, as every peer sends it."""
    return json.dumps(body, separators=(",", ":"))


def order_message(seq: int, sent: float) -> str:
    """The status message of an order change: carries the sequence and send time."""
    return f"{_ORDER_PREFIX}{seq}:{sent!r}"


def parse_order_message(message: object) -> tuple[int, float] | None:
    """Return (seq, sent) of a benchmark order message, else None."""
    if not isinstance(message, str) or not message.startswith(_ORDER_PREFIX):
        return None
    seq, _, sent = message[len(_ORDER_PREFIX) :].partition(":")
    return int(seq), float(sent)
