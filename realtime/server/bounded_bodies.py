"""Request bodies refused by their head, before daphne reads them.

daphne hands a request to the application only once Twisted has received
the whole body (spooled to a temporary file), and then queues all of it for
the application at once: an anonymous 100 MiB POST was read whole, and held
in memory, before any check could refuse it. Here the request's path and
Content-Length are looked at as soon as the head has arrived: a declared
body over the route's limit is answered 413 at once, and a chunked body as
soon as it passes the limit, without keeping what arrived.

Limits: the realtime routes' own (`realtime.bodies`, MAX_MESSAGE_SIZE),
every other path Django's DATA_UPLOAD_MAX_MEMORY_SIZE (the site takes no
file uploads; None turns the check off for those paths).

After the 413 the server stops writing, reads and drops whatever the client
still sends for at most `LINGER` seconds (so that the client reads the
answer instead of a connection reset), then closes.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from daphne import server as daphne_server
from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings
from twisted.internet import reactor

from realtime import bodies

logger = logging.getLogger(__name__)

LINGER = 2.0
REFUSAL = b"message too large"
RESPONSE = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(REFUSAL), REFUSAL)
)


def body_limit(path: str) -> int | None:
    """Return the largest body accepted on `path` (None: no limit)."""
    limit = bodies.limit_for(path)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit


class BoundedRequest(WebRequest):
    """daphne's request, refusing a body over its route's limit before reading it."""

    _limit: int | None = None
    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        if length != 0:
            # The request line is parsed before the headers; Request.path is
            # only set once the whole body has arrived.
            path = self.channel._path.split(b"?", 1)[0].decode("latin-1")
            self._limit = body_limit(unquote(path))
            if self._limit is not None and length is not None and length > self._limit:
                self._refuse(path)
                return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._limit is not None and self._received > self._limit:
            self._refuse(self.channel._path.split(b"?", 1)[0].decode("latin-1"))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:  # else the connection closes after LINGER
            super().requestReceived(command, path, version)

    def _refuse(self, path: str) -> None:
        self._refused = True
        content = getattr(self, "content", None)
        if content is not None:
            content.close()
        self.content = None
        # No "100 Continue" after the answer.
        self.requestHeaders.removeHeader(b"Expect")
        logger.info("refused a request body over %s bytes for %s (413)", self._limit, path)
        transport = self.channel.transport
        transport.write(RESPONSE)
        transport.loseWriteConnection()
        reactor.callLater(LINGER, transport.abortConnection)


class BoundedHTTPFactory(HTTPFactory):
    """daphne's HTTP factory, making `BoundedRequest`s."""

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedRequest
        return protocol


def install() -> None:
    """Make daphne servers started from now on bound request bodies."""
    daphne_server.HTTPFactory = BoundedHTTPFactory
