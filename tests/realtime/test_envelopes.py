"""The channel-layer envelopes: compact wire dicts that read back unchanged."""

import pytest

from realtime.lifetime import envelopes
from realtime.lifetime.envelopes import (
    ClientResult,
    CloseConnection,
    DiscardUsers,
    Forwarded,
    HandedOver,
    Inbound,
    InvokeClient,
    ParkNow,
    Resumed,
    Revoke,
    ToConnections,
    ToGroups,
    UnknownEnvelope,
)

FRAMES = {"json": b'{"type":1}\x1e', "messagepack": b"\x05\x95\x01"}


@pytest.mark.parametrize(
    "envelope",
    [
        ToGroups(["orders.order-42.3fa9c1d2"], FRAMES, ["c1"], 1.5),
        ToConnections(["c1", "c2"], FRAMES, None),
        ToGroups(["g"], FRAMES, [], 1.5, "a1b2c3d4e5f60718"),
        ToConnections(["c1"], FRAMES, 1.5, "a1b2c3d4e5f60718"),
        ParkNow("c1"),
        Resumed("c1", "realtime.abc!def"),
        Forwarded("c1", b'{"type":1}\x1e', "a1b2c3d4e5f60718"),
        Forwarded("c1", b"\x05\x95\x01", ""),
        HandedOver("c1"),
        Inbound("c1", b"{}\x1e"),
        CloseConnection("c1"),
        DiscardUsers("orders.topic.abc", ["7", "8"]),
        Revoke("7", "The user signed out.", "d" * 32),
        Revoke("7", "The user was deactivated."),
        InvokeClient("c1", "resulthub", "Ask", [1, {"a": None}], 30.0, "req1", "realtime.x!y"),
        ClientResult("req1", {"answer": [1, 2]}),
        ClientResult("req1", None),
        ClientResult("req1", failure="client", error="Error: no mood"),
        ClientResult("req1", failure="timeout", error="Connection 'c1' did not answer"),
    ],
)
def test_every_envelope_reads_back_as_it_was_sent(envelope):
    assert envelopes.parse(envelope.to_message()) == envelope


def test_a_broadcast_crosses_redis_with_one_letter_keys():
    """The wire form of the most frequent message is the compact dict processes exchange."""
    message = ToGroups(["g"], FRAMES, [], 2.0).to_message()

    assert message == {"type": "rt.groups", "gs": ["g"], "f": FRAMES, "x": [], "t": 2.0}
    with_id = ToGroups(["g"], FRAMES, [], 2.0, "a1b2").to_message()
    assert with_id == {**message, "i": "a1b2"}


def test_a_message_of_an_unknown_type_is_refused_by_name():
    with pytest.raises(UnknownEnvelope, match=r"rt\.nope"):
        envelopes.parse({"type": "rt.nope"})


def test_a_revocation_without_a_session_names_none():
    assert "k" not in Revoke("7", "reason").to_message()
    assert envelopes.parse({"type": "rt.revoke", "u": "7"}) == Revoke("7", "", None)
