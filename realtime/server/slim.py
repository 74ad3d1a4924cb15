"""What an open WebSocket keeps: no per-socket copy of settings, no handshake.

Every daphne WebSocket is an autobahn protocol object whose instance dict
holds about 130 attributes, 3 KiB on its own per idle connection
(bench/results/heap/). Two kinds of them are dead weight once the socket
is open:

- autobahn copies each of its ~30 protocol options from the factory into
  every connection (`CONFIG_ATTRS`), the same values for all of them;
- the opening handshake leaves the raw request, its parsed headers and
  query, the response text and daphne's request object and cleaned headers
  behind, none of which autobahn or daphne reads after the handshake
  (daphne reads only the request's path, for its access log).

`adopt` moves a new connection to a subclass of its class that holds the
factory's options as class attributes (one class per factory), so the
instance's copies can go; when the socket opens, `OpenWebSocket.onOpen`
drops the handshake state and rebuilds the instance dict at the size of
what is left. Reads of the options find the same values on the class.
"""

from __future__ import annotations

from typing import Any

#: Instance attributes that only the opening handshake reads (autobahn's
#: server side and daphne's `onConnect`).
HANDSHAKE_ONLY = (
    "http_request_data",
    "http_status_line",
    "http_headers",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "http_response_data",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "clean_headers",
    "application_deferred",
)


class RequestPath:
    """What daphne reads of a WebSocket's request once it is open: its path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class OpenWebSocket:
    """Mixed into the class `adopt` gives a connection: sheds the handshake on open."""

    def onOpen(self) -> None:
        super().onOpen()
        shed_handshake(self)


def shed_handshake(protocol: Any) -> None:
    """Drop the handshake state of an open WebSocket and compact its dict."""
    state = protocol.__dict__
    for name in HANDSHAKE_ONLY:
        state.pop(name, None)
    request = state.get("request")
    if request is not None and not isinstance(request, RequestPath):
        state["request"] = RequestPath(request.path)
    # A dict never shrinks when keys go; a new one is sized for what is left.
    protocol.__dict__ = {**state}


def adopt(protocol: Any, *mixins: type) -> None:
    """Give a new WebSocket protocol its factory's options as class attributes.

    Call after autobahn copied them (`connectionMade`), before the handshake
    completes. An option whose value differs from the factory's stays on the
    instance. The class also mixes in `mixins`, before the protocol's own.
    """
    if isinstance(protocol, OpenWebSocket):
        return
    factory, base = protocol.factory, type(protocol)
    classes = factory.__dict__.setdefault("_realtime_open_classes", {})
    cls = classes.get((base, mixins))
    if cls is None:
        # staticmethod: an option that is a function (perMessageCompressionAccept)
        # reads back unbound, as from the instance; any other value reads as is.
        options = {name: staticmethod(getattr(factory, name)) for name in base.CONFIG_ATTRS}
        bases = (OpenWebSocket, *mixins, base)
        cls = classes[base, mixins] = type(base.__name__, bases, options)
    protocol.__class__ = cls
    state = protocol.__dict__
    for name in cls.CONFIG_ATTRS:
        if name in state and state[name] is getattr(cls, name):
            del state[name]
