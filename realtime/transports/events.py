"""ASGI events the transports send."""


def websocket_event(frame: bytes | str) -> dict:
    """The ASGI event that sends `frame`: text for str, binary for bytes."""
    if isinstance(frame, str):
        return {"type": "websocket.send", "text": frame}
    return {"type": "websocket.send", "bytes": frame}
