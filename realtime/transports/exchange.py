"""One HTTP request and its response, for the hub routes' plain ASGI handlers.

Bodies are read only when asked, after the request has been identified, and
never past a limit: a declared Content-Length over the limit is refused
before anything is read, a streamed body as soon as it passes the limit.
"""

from __future__ import annotations

from typing import Any

from realtime.transports.admission import Refusal, refuse

TOO_LARGE = Refusal(413, "message too large")


class HttpExchange:
    """The scope, receive and send of one HTTP request to a hub route."""

    def __init__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        #: Whether the response's status went out.
        self.started = False

    def header(self, name: bytes) -> bytes:
        """Return a request header (lower-case name), or b""."""
        for header, value in self.scope.get("headers", ()):
            if header == name:
                return value
        return b""

    def declares_more_than(self, limit: int) -> bool:
        """Return whether the request's Content-Length exceeds `limit`."""
        declared = self.header(b"content-length")
        return declared.isdigit() and int(declared) > limit

    async def read_body(self, limit: int) -> bytes | None:
        """Read the body, at most `limit` bytes; None when refused (413 sent) or gone."""
        if self.declares_more_than(limit):
            await self.refuse(refuse(self.scope, TOO_LARGE))
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self.refuse(refuse(self.scope, TOO_LARGE))
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Send the response status and headers."""
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def send_body(self, body: bytes, *, more_body: bool = False) -> None:
        """Send (part of) the response body."""
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def respond(
        self, status: int, body: bytes = b"", content_type: bytes = b"text/plain"
    ) -> None:
        """Send a whole response that no cache keeps."""
        await self.start(status, [(b"Content-Type", content_type), (b"Cache-Control", b"no-store")])
        await self.send_body(body)

    async def refuse(self, refusal: Refusal) -> None:
        """Answer with the refusal's status and reason."""
        await self.respond(refusal.status, refusal.reason.encode())
