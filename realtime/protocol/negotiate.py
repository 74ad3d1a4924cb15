"""The negotiate response body, written as ASP.NET Core writes it.

Compact JSON in NegotiateProtocol's key order: negotiateVersion, url,
accessToken, connectionId, connectionToken, useStatefulReconnect, then
availableTransports, which is always present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from realtime.protocol.messages import ProtocolError

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# What .NET's int.TryParse accepts: ASCII digits, a sign, white space around.
_INTEGER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")
_INT32 = range(-(2**31), 2**31)


def negotiate_version(requested: str | None, *, highest: int = 1) -> int:
    """Return the negotiate version to answer a client's ``negotiateVersion``.

    No value means version 0 and a higher one than ``highest`` gets
    ``highest``; raise ProtocolError with ASP.NET Core's text for a value
    that is not an Int32 or is negative (it answers those 200 with the
    error as the body: see encode_negotiate_error).
    """
    if requested is None:
        return 0
    if not _INTEGER.fullmatch(requested) or int(requested) not in _INT32:
        raise ProtocolError("The client requested a non-integer protocol version.")
    version = int(requested)
    if version < 0:
        raise ProtocolError(
            f"The client requested version '{version}', "
            "but the server does not support this version."
        )
    return min(version, highest)


def encode_negotiate_error(error: str) -> bytes:
    """Return the body of a negotiate response that refuses the client."""
    return _DUMPS({"error": error}).encode("utf-8")


def encode_negotiate_response(
    *,
    version: int | None = None,
    connection_id: str | None = None,
    connection_token: str | None = None,
    transports: Iterable[Mapping[str, Any]] = (),
    stateful_reconnect: bool = False,
) -> bytes:
    """Return the body of a successful negotiate response.

    ``connection_token`` is written only from negotiate version 1 on, as
    ASP.NET Core does; ``version`` None leaves negotiateVersion out (the
    version-0 servers' shape).
    """
    payload: dict[str, Any] = {}
    if version is not None:
        payload["negotiateVersion"] = version
    if connection_id:
        payload["connectionId"] = connection_id
    if connection_token and (version or 0) > 0:
        payload["connectionToken"] = connection_token
    if stateful_reconnect:
        payload["useStatefulReconnect"] = True
    payload["availableTransports"] = [
        {"transport": t["transport"], "transferFormats": list(t["transferFormats"])}
        for t in transports
    ]
    return _DUMPS(payload).encode("utf-8")
