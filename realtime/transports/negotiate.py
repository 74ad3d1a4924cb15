"""``POST <hub>/negotiate``: hand out a connection id and the transports."""

from __future__ import annotations

import json
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from realtime import conf, handoff
from realtime.auth import credential, query_param
from realtime.protocol import (
    ProtocolError,
    encode_negotiate_error,
    encode_negotiate_response,
    negotiate_version,
)
from realtime.transports import outage
from realtime.transports.admission import NO_LAYER, Refusal, enrol, identify, new_id, refuse

TRANSPORTS = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]
JSON_HEADERS = [(b"Content-Type", b"application/json"), (b"Cache-Control", b"no-store")]


class NegotiateConsumer(AsyncHttpConsumer):
    """Answer negotiate versions 0 and 1; 401 (never a redirect) when anonymous."""

    channel_layer_alias = NO_LAYER
    hub_class: Any = None
    _received = 0

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch first closes stale database connections in a trip
        # to the database thread; authentication's own trip does that here.
        if message["type"] == "http.request":
            await self.http_request(message)
        else:
            await super().dispatch(message)

    async def _reply(self, status: int, payload: dict) -> None:
        await self.send_response(status, json.dumps(payload).encode(), headers=JSON_HEADERS)

    async def http_request(self, message: dict) -> None:
        """Collect the body, refusing it (413) once past MAX_MESSAGE_SIZE."""
        limit = conf.get().MAX_MESSAGE_SIZE
        self._received += len(message.get("body", b""))
        declared = dict(self.scope["headers"]).get(b"content-length", b"")
        if self._received > limit or (declared.isdigit() and int(declared) > limit):
            refuse(self.scope, Refusal(413, "negotiate body too large"))
            await self._reply(413, {"error": "Negotiate request body is too large."})
            raise StopConsumer
        await super().http_request(message)

    async def handle(self, body: bytes) -> None:
        if self.scope["method"] != "POST":
            refuse(self.scope, Refusal(405, "negotiate needs POST"))
            await self._reply(405, {"error": "Negotiate requires POST."})
            return
        if await outage.guard(self.scope, self._negotiate()) is outage.UNAVAILABLE:
            await self._reply(503, {"error": outage.UNAVAILABLE.reason})

    async def _negotiate(self) -> None:
        identity = await identify(self.scope, self.hub_class)
        if isinstance(identity, Refusal):
            await self._reply(identity.status, {"error": identity.reason})
            return
        try:
            version = negotiate_version(query_param(self.scope, "negotiateVersion"))
        except ProtocolError as exc:  # ASP.NET Core answers 200 with the error
            await self.send_response(200, encode_negotiate_error(str(exc)), headers=JSON_HEADERS)
            return
        connection_id = new_id()
        token = new_id() if version >= 1 else connection_id
        # Only with a secret token: a resume presents it (negotiate version 1).
        stateful = (
            version >= 1
            and conf.get().STATEFUL_RECONNECT
            and query_param(self.scope, "useStatefulReconnect") == "true"
        )
        refusal = await enrol(
            self.scope, self.hub_class, identity,
            token=token, connection_id=connection_id, stateful=stateful,
        )  # fmt: skip
        if refusal is not None:
            await self._reply(refusal.status, {"error": refusal.reason})
            return
        handoff.leave(token, credential(self.scope), identity)
        body = encode_negotiate_response(
            version=version,
            connection_id=connection_id,
            connection_token=token,
            transports=TRANSPORTS,
            stateful_reconnect=stateful,
        )
        await self.send_response(200, body, headers=JSON_HEADERS)
