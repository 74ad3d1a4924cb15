"""The channel-layer messages between server processes, defined once.

Each envelope is a frozen dataclass with `to_message` (the wire dict) and a
`from_message` class method; `parse` reads any of them. The wire dicts keep
one-letter keys because a broadcast crosses Redis once per process holding
members of its audience.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class ToGroups:
    """A client event, pre-encoded per protocol, for the local members of groups."""

    TYPE: ClassVar[str] = "rt.groups"
    groups: list[str]
    frames: dict[str, bytes]
    exclude: list[str]
    #: When the sender sent it (fan-out latency and backplane lag), or None.
    sent_at: float | None = None
    #: Names this send: a stateful connection that moves to another process
    #: while it travels may get it twice (realtime/parking.py), once kept.
    message_id: str = ""

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        message = {"type": self.TYPE, "gs": self.groups, "f": self.frames,
                   "x": self.exclude, "t": self.sent_at}  # fmt: skip
        if self.message_id:
            message["i"] = self.message_id
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> ToGroups:
        """Read the wire form."""
        return cls(message["gs"], message["f"], message.get("x") or [], message.get("t"),
                   message.get("i") or "")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToConnections:
    """A client event, pre-encoded per protocol, for some local connections."""

    TYPE: ClassVar[str] = "rt.conn"
    connections: list[str]
    frames: dict[str, bytes]
    sent_at: float | None = None
    message_id: str = ""  # as ToGroups.message_id

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        message = {"type": self.TYPE, "cs": self.connections, "f": self.frames,
                   "t": self.sent_at}  # fmt: skip
        if self.message_id:
            message["i"] = self.message_id
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> ToConnections:
        """Read the wire form."""
        return cls(message["cs"], message["f"], message.get("t"), message.get("i") or "")


@dataclass(frozen=True, slots=True)
class Inbound:
    """Bytes a client POSTed, for the process that runs its connection."""

    TYPE: ClassVar[str] = "rt.inbound"
    connection_id: str
    data: bytes

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id, "d": self.data}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Inbound:
        """Read the wire form."""
        return cls(message["c"], message["d"])


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """End a connection at its client's request (long-polling DELETE)."""

    TYPE: ClassVar[str] = "rt.close"
    connection_id: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> CloseConnection:
        """Read the wire form."""
        return cls(message["c"])


@dataclass(frozen=True, slots=True)
class DiscardUsers:
    """Take the local connections of some users out of a (layer-named) group."""

    TYPE: ClassVar[str] = "rt.discard"
    group: str
    user_ids: list[str]

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "g": self.group, "u": self.user_ids}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> DiscardUsers:
        """Read the wire form."""
        return cls(message["g"], list(message["u"]))


@dataclass(frozen=True, slots=True)
class Revoke:
    """Close a user's local connections (those of one session, given its digest)."""

    TYPE: ClassVar[str] = "rt.revoke"
    user_id: str
    reason: str
    #: The digest of the session whose connections end, or None for all.
    session: str | None = None

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        message = {"type": self.TYPE, "u": self.user_id, "r": self.reason}
        if self.session:
            message["k"] = self.session
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Revoke:
        """Read the wire form."""
        return cls(message["u"], message.get("r") or "", message.get("k"))


@dataclass(frozen=True, slots=True)
class InvokeClient:
    """Ask a local connection's client for a result (``InvokeAsync``) and reply."""

    TYPE: ClassVar[str] = "rt.invoke"
    connection_id: str
    namespace: str
    target: str
    arguments: list
    #: Seconds the owner waits for the client.
    timeout: float
    #: The asker's id for this request, and the channel the reply goes to.
    request: str
    reply_to: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id, "h": self.namespace,
                "t": self.target, "a": self.arguments, "w": self.timeout,
                "i": self.request, "r": self.reply_to}  # fmt: skip

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> InvokeClient:
        """Read the wire form."""
        return cls(message["c"], message["h"], message["t"], list(message["a"]),
                   float(message["w"]), message["i"], message["r"])  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClientResult:
    """The reply to an InvokeClient: the client's value, or why there is none.

    `failure` is None for a value, "client" for the client's error, "timeout"
    or "gone"; `error` holds the text.
    """

    TYPE: ClassVar[str] = "rt.result"
    request: str
    value: Any = None
    failure: str | None = None
    error: str = ""

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        if self.failure is None:
            return {"type": self.TYPE, "i": self.request, "v": self.value}
        return {"type": self.TYPE, "i": self.request, "k": self.failure, "e": self.error}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> ClientResult:
        """Read the wire form."""
        return cls(message["i"], message.get("v"), message.get("k"), message.get("e") or "")


# Stateful reconnect: between the old and the new owner of a connection
# that was parked on one process and resumed on another (realtime/parking.py).


@dataclass(frozen=True, slots=True)
class ParkNow:
    """Park a connection now: its client resumed it before its drop was noticed."""

    TYPE: ClassVar[str] = "rt.park"
    connection_id: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> ParkNow:
        """Read the wire form."""
        return cls(message["c"])


@dataclass(frozen=True, slots=True)
class Resumed:
    """A parked connection was claimed by `claimer`: hand it over."""

    TYPE: ClassVar[str] = "rt.resumed"
    connection_id: str
    claimer: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id, "o": self.claimer}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Resumed:
        """Read the wire form."""
        return cls(message["c"], message["o"])


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A frame that reached a connection's old owner after its last save."""

    TYPE: ClassVar[str] = "rt.fwd"
    connection_id: str
    frame: bytes
    message_id: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id, "f": self.frame, "i": self.message_id}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Forwarded:
        """Read the wire form."""
        return cls(message["c"], message["f"], message.get("i") or "")


@dataclass(frozen=True, slots=True)
class HandedOver:
    """The old owner forwarded everything and left the connection."""

    TYPE: ClassVar[str] = "rt.handed"
    connection_id: str

    def to_message(self) -> dict[str, Any]:
        """Return the wire form."""
        return {"type": self.TYPE, "c": self.connection_id}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> HandedOver:
        """Read the wire form."""
        return cls(message["c"])


ResumeEnvelope = ParkNow | Resumed | Forwarded | HandedOver
Envelope = (
    ToGroups
    | ToConnections
    | Inbound
    | CloseConnection
    | DiscardUsers
    | Revoke
    | InvokeClient
    | ClientResult
    | ResumeEnvelope
)
_KINDS: dict[str, type[Envelope]] = {
    kind.TYPE: kind
    for kind in (
        ToGroups,
        ToConnections,
        Inbound,
        CloseConnection,
        DiscardUsers,
        Revoke,
        InvokeClient,
        ClientResult,
        ParkNow,
        Resumed,
        Forwarded,
        HandedOver,
    )
}


class UnknownEnvelope(ValueError):
    """A channel-layer message of a type no process sends."""


def parse(message: Mapping[str, Any]) -> Envelope:
    """Return the envelope a wire message carries; raise UnknownEnvelope or KeyError."""
    kind = _KINDS.get(message.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise UnknownEnvelope(f"unknown message type {message.get('type')!r}")
    return kind.from_message(message)
