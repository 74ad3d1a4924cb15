"""HTTP/1.1 over raw asyncio sockets, for tests that hold hundreds of requests.

One `RawHttp` is one keep-alive TCP connection to 127.0.0.1; requests on it
run one after another. `send_head` lets a test send a request's head and
decide what to do with the body after seeing whether the server answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RawHttp:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base_url: str, timeout: float = 10) -> RawHttp:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), timeout
        )
        return cls(reader, writer)

    def send_head(self, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        """Write a request line and headers (the body, if any, is up to the caller)."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        """Send a request with a Content-Length body and read the response."""
        self.send_head(method, path, {**(headers or {}), "Content-Length": str(len(body))})
        self.writer.write(body)
        await self.writer.drain()
        return await self.response(timeout)

    async def response(self, timeout: float = 30) -> Response:
        """Read one response (Content-Length, chunked, or until the server closes)."""
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> Response:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection without answering")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            body = b"".join(parts)
        else:
            body = await self.reader.read()
        return Response(status, headers, body)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
