"""Hub protocol messages, shared by the JSON and MessagePack encodings.

Each message is a frozen dataclass. Fields that hold payloads (arguments,
items, results, headers) may contain lists and dicts, so instances compare
by value but are not always hashable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


class ProtocolError(ValueError):
    """Signal bytes from a peer that do not form valid hub protocol messages."""


@dataclass(frozen=True, slots=True)
class Invocation:
    """Ask the peer to run ``target``; non-blocking when ``invocation_id`` is None."""

    target: str
    arguments: tuple[object, ...]
    invocation_id: str | None = None
    stream_ids: tuple[str, ...] = ()
    headers: dict[str, str] | None = field(default=None, compare=True)


@dataclass(frozen=True, slots=True)
class StreamInvocation:
    """Ask the peer to run ``target`` and stream its results back."""

    invocation_id: str
    target: str
    arguments: tuple[object, ...]
    stream_ids: tuple[str, ...] = ()
    headers: dict[str, str] | None = field(default=None, compare=True)


@dataclass(frozen=True, slots=True)
class StreamItem:
    """Carry one item of a stream identified by ``invocation_id``."""

    invocation_id: str
    item: object
    headers: dict[str, str] | None = field(default=None, compare=True)


@dataclass(frozen=True, slots=True)
class Completion:
    """End an invocation or stream with a result, an error, or nothing.

    ``has_result`` tells a ``None`` result apart from a void completion, so
    build instances with :meth:`with_result`, :meth:`with_error` or
    :meth:`void` rather than by hand.
    """

    invocation_id: str
    result: object = None
    error: str | None = None
    has_result: bool = False
    headers: dict[str, str] | None = field(default=None, compare=True)

    def __post_init__(self) -> None:
        # Both mistakes would otherwise be encoded silently: the first as an
        # invalid frame, the second by dropping the result on the floor.
        if self.error is not None and self.has_result:
            raise ValueError("A Completion cannot carry both a result and an error.")
        if self.result is not None and not self.has_result:
            raise ValueError("A Completion with a result needs has_result=True.")

    @classmethod
    def with_result(cls, invocation_id: str, value: object) -> Completion:
        """Return a completion carrying ``value`` (which may be None)."""
        return cls(invocation_id, result=value, has_result=True)

    @classmethod
    def with_error(cls, invocation_id: str, message: str) -> Completion:
        """Return a completion reporting ``message`` as the error."""
        return cls(invocation_id, error=message)

    @classmethod
    def void(cls, invocation_id: str) -> Completion:
        """Return a completion with neither result nor error."""
        return cls(invocation_id)


@dataclass(frozen=True, slots=True)
class CancelInvocation:
    """Ask the peer to cancel the invocation or stream ``invocation_id``."""

    invocation_id: str
    headers: dict[str, str] | None = field(default=None, compare=True)


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep the connection alive; carries nothing."""


@dataclass(frozen=True, slots=True)
class Close:
    """Announce that the connection is closing, optionally with an error."""

    error: str | None = None
    allow_reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge trackable messages up to ``sequence_id`` (stateful reconnect)."""

    sequence_id: int


@dataclass(frozen=True, slots=True)
class Sequence:
    """Announce the sequence id of the next trackable message (stateful reconnect)."""

    sequence_id: int


HubMessage: TypeAlias = (
    Invocation
    | StreamInvocation
    | StreamItem
    | Completion
    | CancelInvocation
    | Ping
    | Close
    | Ack
    | Sequence
)
