"""Write-through TCP sends for daphne: send at once when nothing is queued.

Twisted's TCP transport never sends in ``write()``: it appends the data to a
buffer and registers the socket for writability, and the reactor sends on the
next turn and unregisters it. Under the asyncio reactor that is two
``epoll_ctl`` calls and a selector-key rebuild per frame, and it was the
largest single cost of a broadcast under daphne (bench/results/FINDINGS.md).
asyncio's own transports, and so uvicorn, try ``send()`` first and fall back
to the buffer only for what the kernel did not take.

`install` gives Twisted's TCP connections that behaviour. Only the case with
an empty buffer and an open, writable connection takes the new path; anything
else (queued data, a producer, a closing connection, a failed or partial
send) goes through Twisted's own ``write`` with what is left, so ordering,
flow control and error handling stay Twisted's.
"""

from __future__ import annotations

from twisted.internet import tcp

_original_write = tcp.Connection.write


def _write(self: tcp.Connection, data: bytes) -> None:
    if (
        data
        and type(data) is bytes
        and self.connected
        and not self.disconnecting
        and not self._writeDisconnected
        and not self._tempDataBuffer
        and self.offset == len(self.dataBuffer)
    ):
        sent = self.writeSomeData(data)
        if isinstance(sent, int) and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
    _original_write(self, data)


def install() -> None:
    """Make Twisted TCP connections send immediately when their buffer is empty."""
    tcp.Connection.write = _write  # type: ignore[method-assign]


def installed() -> bool:
    """Return whether `install` has run in this process."""
    return tcp.Connection.write is _write


def unsent(transport: object) -> int:
    """Return the bytes a Twisted TCP connection holds that the kernel has not taken.

    Under TLS the wrapped TCP connection is measured (ciphertext), not the
    plaintext the TLS layer still holds. Any other transport counts as 0.
    """
    while not isinstance(transport, tcp.Connection):
        transport = getattr(transport, "transport", None)
        if transport is None:
            return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
