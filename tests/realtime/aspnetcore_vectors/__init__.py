"""ASP.NET Core's own SignalR protocol test data, transcribed as facts.

Every entry is a fact from the tests of github.com/dotnet/aspnetcore: the
bytes ASP.NET Core writes or reads and the message they mean, or the error
text it gives for bytes it refuses. Names are ASP.NET Core's test-data
names, so each row can be found in its source file:

- json_hub.py: src/SignalR/common/SignalR.Common/test/Internal/Protocol/
  JsonHubProtocolTestsBase.cs and JsonHubProtocolTests.cs
- messagepack_hub.py: the same folder, MessagePackHubProtocolTestBase.cs and
  MessagePackHubProtocolTests.cs (Base64 bodies, as there)
- handshake.py: HandshakeProtocolTests.cs in the same folder, and
  src/SignalR/common/Http.Connections/test/NegotiateProtocolTests.cs

Payload objects are given as the Python values that carry the same data:
.NET's ``CustomObject`` is a dict (keys as the .NET serializer options of
the row name them), ``DateTime`` a UTC ``datetime``, ``byte[]`` ``bytes``
and an enum the string MessagePack-CSharp writes for it. JSON gives the
codec no types, so a datetime or bytes value reads back as the string the
wire holds (``parsed``).

Rows that cannot apply to this server are in NOT_APPLICABLE with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from realtime.protocol import HubMessage

BOTH, PARSE, WRITE = "both", "parse", "write"


@dataclass(frozen=True)
class Vector:
    """Bytes and the message they mean; ``direction`` says which way applies."""

    name: str
    wire: bytes  # JSON: one record without 0x1E; MessagePack: a body without its length
    message: HubMessage
    direction: str = BOTH
    parsed: HubMessage | None = None  # what the codec reads back, when the wire loses a type
    why: str = ""  # why only one direction applies


@dataclass(frozen=True)
class Refusal:
    """Bytes ASP.NET Core refuses, with its error text.

    ``ours`` is set where this server refuses with another text, and ``why``
    says why.
    """

    name: str
    wire: bytes
    error: str
    ours: str | None = None
    why: str = ""


@dataclass(frozen=True)
class Size:
    """The framed size ASP.NET Core writes for a message."""

    name: str
    message: HubMessage
    size: int


def b64(text: str) -> bytes:
    return base64.b64decode(text)


UTC_2017 = dt.datetime(2017, 4, 11, tzinfo=dt.UTC)
HEADERS = {
    "Foo": "Bar",
    "KeyWith\nNew\r\nLines": "Still Works",
    "ValueWithNewLines": "Also\nWorks\r\nFine",
}
JSON_HEADERS = (
    '"headers":{"Foo":"Bar","KeyWith\\nNew\\r\\nLines":"Still Works",'
    '"ValueWithNewLines":"Also\\nWorks\\r\\nFine"}'
)


def custom(*, camel: bool = True, nulls: bool = False, wire: bool = False) -> dict:
    """Return .NET's CustomObject as the serializer options of a row write it.

    ``wire`` gives the JSON reading of it: strings for the date and bytes.
    """
    date: object = "2017-04-11T00:00:00Z" if wire else UTC_2017
    data: object = "AQID" if wire else b"\x01\x02\x03"
    fields = [("StringProp", "SignalR!"), ("DoubleProp", 6.2831853071), ("IntProp", 42)]
    fields += [("DateTimeProp", date)] + ([("NullProp", None)] if nulls else [])
    fields += [("ByteArrProp", data)]
    return {(k[0].lower() + k[1:]) if camel else k: v for k, v in fields}


NOT_APPLICABLE: dict[str, str] = {
    "InvocationMessage_HasFloatArgument, StreamItemMessage_HasFloatItem, "
    "CompletionMessage_HasFloatResult, StreamInvocationMessage_HasFloatArgument (JSON)": (
        "System.Text.Json writes the .NET Single 2.0f as 2; Python's json writes the float "
        "2.0 as 2.0 (the int 2 is written as 2). JSON readers read both as the number 2."
    ),
    "ArgumentBindingErrors, DateTimeArgumentPreservesUtcKind, DateTimeReturnValuePreservesUtcKind, "
    "ReadToEndOfArgumentArrayOnError, ReadCaseInsensitivePropertiesByDefault (JSON); "
    "ArgumentBindingErrors size and type mismatches, CompletionResultTypeMismatch (MessagePack)": (
        "They test the .NET binder that converts arguments while parsing. The codec here "
        "has no binder: realtime/binding.py binds after parsing, with ASP.NET Core's "
        "argument-count text ('Invocation provides N argument(s) but target expects M.')."
    ),
    "MagicCast (JSON)": "Skipped in ASP.NET Core itself.",
    "ParserDoesNotConsumePartialData (MessagePack)": (
        "ASP.NET Core's parser waits for the rest of a partial message in a byte stream; "
        "every transport here hands the codec whole frames, so a partial one is refused."
    ),
    "WriteAndParseDateTimeOffset (MessagePack)": (
        "MessagePack-CSharp writes a DateTimeOffset as a .NET-specific array; Python has "
        "no such type (an aware datetime is written as a timestamp)."
    ),
    "ParsingResponseMessageGivesMinorVersion, ParsingHandshakeResponseMessage* (handshake)": (
        "They test the client reading a handshake response; the server only writes one."
    ),
    "ParsingNegotiateResponseMessage*, ParsingAspNetSignalRResponseThrowsError (negotiate)": (
        "They test the client reading a negotiate response; the server only writes one."
    ),
    "AckPipeTests": (
        "They test an internal pipe of ASP.NET Core that puts a 24-byte frame header "
        "around messages; no SignalR client writes or reads that header, and stateful "
        "reconnect uses the Ack and Sequence hub messages, which the vectors above cover."
    ),
    "WriteNegotiateResponseWithNullTransferFormats (negotiate)": (
        "Writes a transport whose name is null, which the server never offers."
    ),
}
