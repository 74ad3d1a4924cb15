"""HandshakeProtocolTests.cs and NegotiateProtocolTests.cs, as facts."""

from __future__ import annotations

# HandshakeProtocolTests: requests the server reads ("protocol", version) ...
HANDSHAKE_REQUESTS: list[tuple[bytes, str, int]] = [
    (b'{"protocol":"dummy","version":1}\x1e', "dummy", 1),
    (b'{"protocol":"","version":10}\x1e', "", 10),
    (b'{"protocol":"","version":10,"unknown":null}\x1e', "", 10),
]
# ... requests it refuses, with ASP.NET Core's text ...
HANDSHAKE_REFUSALS: list[tuple[bytes, str]] = [
    (b"42\x1e", "Unexpected JSON Token Type 'Number'. Expected a JSON Object."),
    (b'"42"\x1e', "Unexpected JSON Token Type 'String'. Expected a JSON Object."),
    (b"null\x1e", "Unexpected JSON Token Type 'Null'. Expected a JSON Object."),
    (b"{}\x1e", "Missing required property 'protocol'. Message content: {}"),
    (b"[]\x1e", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."),
    (
        b'{"protocol":"json"}\x1e',
        'Missing required property \'version\'. Message content: {"protocol":"json"}',
    ),
    (
        b'{"version":1}\x1e',
        "Missing required property 'protocol'. Message content: {\"version\":1}",
    ),
    (
        b'{"type":4,"invocationId":"42","target":"foo","arguments":{}}\x1e',
        "Missing required property 'protocol'. Message content: "
        '{"type":4,"invocationId":"42","target":"foo","arguments":{}}',
    ),
    (b'{"version":"123"}\x1e', "Expected 'version' to be of type Number."),
    (b'{"protocol":null,"version":123}\x1e', "Expected 'protocol' to be of type String."),
]
# ... and the responses it writes for an error (None: success). The empty
# error is written as success: HandshakeProtocol.WriteResponseMessage skips it.
HANDSHAKE_RESPONSES: list[tuple[str | None, bytes]] = [
    ("dummy", b'{"error":"dummy"}\x1e'),
    (None, b"{}\x1e"),
    ("", b"{}\x1e"),
]

# NegotiateProtocolTests.WriteNegotiateResponse*: compact JSON, availableTransports
# always written, each transport as {"transport":...,"transferFormats":[...]}.
NEGOTIATE_EMPTY = b'{"availableTransports":[]}'
