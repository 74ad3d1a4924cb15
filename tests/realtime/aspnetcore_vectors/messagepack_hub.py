"""MessagePackHubProtocolTestBase.cs and MessagePackHubProtocolTests.cs, as facts."""

from __future__ import annotations

from realtime.protocol import (
    CancelInvocation,
    Close,
    Completion,
    Invocation,
    Ping,
    StreamInvocation,
    StreamItem,
)
from tests.realtime.aspnetcore_vectors import (
    HEADERS,
    PARSE,
    Refusal,
    Size,
    Vector,
    b64,
    custom,
)

MP_CUSTOM = custom(camel=False, nulls=True)
_FLOAT32 = "MessagePack-CSharp writes a .NET Single as float 32; Python floats are 64-bit"

# MessagePackHubProtocolTestBase.BaseTestData and MessagePackHubProtocolTests.TestData
# (Base64 bodies as there), ParseMessageWithExtraData and
# SerializerCanSerializeTypesWithNoDefaultCtor.
MSGPACK_VECTORS: list[Vector] = [
    Vector(
        "InvocationWithNoHeadersAndNoArgs",
        b64("lgGAo3h5eqZtZXRob2SQkA=="),
        Invocation("method", (), "xyz"),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdAndNoArgs",
        b64("lgGAwKZtZXRob2SQkA=="),
        Invocation("method", ()),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdAndSingleIntArg",
        b64("lgGAwKZtZXRob2SRKpA="),
        Invocation("method", (42,)),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdIntAndStringArgs",
        b64("lgGAwKZtZXRob2SSKqZzdHJpbmeQ"),
        Invocation("method", (42, "string")),
    ),
    Vector(
        "InvocationWithStreamArgument",
        b64("lgGAwKZUYXJnZXSQkatfX3Rlc3RfaWRfXw=="),
        Invocation("Target", (), stream_ids=("__test_id__",)),
    ),
    Vector(
        "InvocationWithStreamAndNormalArgument",
        b64("lgGAwKZUYXJnZXSRKpGrX190ZXN0X2lkX18="),
        Invocation("Target", (42,), stream_ids=("__test_id__",)),
    ),
    Vector(
        "InvocationWithMultipleStreams",
        b64("lgGAwKZUYXJnZXSQkqtfX3Rlc3RfaWRfX6xfX3Rlc3RfaWQyX18="),
        Invocation("Target", (), stream_ids=("__test_id__", "__test_id2__")),
    ),
    Vector("StreamItemWithNoHeadersAndIntItem", b64("lAKAo3h5eio="), StreamItem("xyz", 42)),
    Vector(
        "StreamItemWithNoHeadersAndFloatItem",
        b64("lAKAo3h5espCKAAA"),
        StreamItem("xyz", 42.0),
        PARSE,
        why=_FLOAT32,
    ),
    Vector(
        "StreamItemWithNoHeadersAndStringItem",
        b64("lAKAo3h5eqZzdHJpbmc="),
        StreamItem("xyz", "string"),
    ),
    Vector("StreamItemWithNoHeadersAndBoolItem", b64("lAKAo3h5esM="), StreamItem("xyz", True)),
    Vector(
        "CompletionWithNoHeadersAndError",
        b64("lQOAo3h5egGwRXJyb3Igbm90IGZvdW5kIQ=="),
        Completion.with_error("xyz", "Error not found!"),
    ),
    Vector(
        "CompletionWithHeadersAndError",
        b64(
            "lQODo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6AbBFcnJvciBub3QgZm91bmQh"
        ),
        Completion("xyz", error="Error not found!", headers=HEADERS),
    ),
    Vector("CompletionWithNoHeadersAndNoResult", b64("lAOAo3h5egI="), Completion.void("xyz")),
    Vector(
        "CompletionWithHeadersAndNoResult",
        b64(
            "lAODo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6Ag=="
        ),
        Completion("xyz", headers=HEADERS),
    ),
    Vector(
        "CompletionWithNoHeadersAndIntResult",
        b64("lQOAo3h5egMq"),
        Completion.with_result("xyz", 42),
    ),
    Vector(
        "CompletionWithNoHeadersAndFloatResult",
        b64("lQOAo3h5egPKQigAAA=="),
        Completion.with_result("xyz", 42.0),
        PARSE,
        why=_FLOAT32,
    ),
    Vector(
        "CompletionWithNoHeadersAndStringResult",
        b64("lQOAo3h5egOmc3RyaW5n"),
        Completion.with_result("xyz", "string"),
    ),
    Vector(
        "CompletionWithNoHeadersAndBooleanResult",
        b64("lQOAo3h5egPD"),
        Completion.with_result("xyz", True),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndNoArgs",
        b64("lgSAo3h5eqZtZXRob2SQkA=="),
        StreamInvocation("xyz", "method", ()),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndIntArg",
        b64("lgSAo3h5eqZtZXRob2SRKpA="),
        StreamInvocation("xyz", "method", (42,)),
    ),
    Vector(
        "StreamInvocationWithStreamArgument",
        b64("lgSAo3h5eqZtZXRob2SQkatfX3Rlc3RfaWRfXw=="),
        StreamInvocation("xyz", "method", (), ("__test_id__",)),
    ),
    Vector(
        "StreamInvocationWithStreamAndNormalArgument",
        b64("lgSAo3h5eqZtZXRob2SRKpGrX190ZXN0X2lkX18="),
        StreamInvocation("xyz", "method", (42,), ("__test_id__",)),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndIntAndStringArgs",
        b64("lgSAo3h5eqZtZXRob2SSKqZzdHJpbmeQ"),
        StreamInvocation("xyz", "method", (42, "string")),
    ),
    Vector("CancelInvocationWithNoHeaders", b64("kwWAo3h5eg=="), CancelInvocation("xyz")),
    Vector(
        "CancelInvocationWithHeaders",
        b64(
            "kwWDo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6"
        ),
        CancelInvocation("xyz", headers=HEADERS),
    ),
    Vector("Ping", b64("kQY="), Ping()),
    Vector("CloseMessage", b64("kwfAwg=="), Close()),
    Vector("CloseMessage_HasError", b64("kwemRXJyb3Ihwg=="), Close("Error!")),
    Vector("CloseMessage_HasAllowReconnect", b64("kwfAww=="), Close(None, True)),
    Vector(
        "CloseMessage_HasErrorAndAllowReconnect", b64("kwemRXJyb3Ihww=="), Close("Error!", True)
    ),
    Vector(
        "CompletionWithNoHeadersAndNullResult",
        b64("lQOAo3h5egPA"),
        Completion.with_result("xyz", None),
    ),
    Vector(
        "CompletionWithNoHeadersAndCustomObjectResult",
        b64(
            "lQOAo3h5egOGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxE"
            "YXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgM="
        ),
        Completion.with_result("xyz", MP_CUSTOM),
    ),
    Vector(
        "CompletionWithNoHeadersAndCustomObjectArrayResult",
        b64(
            "lQOAo3h5egOShqpTdHJpbmdQcm9wqFNpZ25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50UHJvcCqs"
            "RGF0ZVRpbWVQcm9w1v9Y7ByAqE51bGxQcm9wwKtCeXRlQXJyUHJvcMQDAQIDhqpTdHJpbmdQcm9wqFNp"
            "Z25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50UHJvcCqsRGF0ZVRpbWVQcm9w1v9Y7ByAqE51bGxQ"
            "cm9wwKtCeXRlQXJyUHJvcMQDAQID"
        ),
        Completion.with_result("xyz", [MP_CUSTOM, MP_CUSTOM]),
    ),
    Vector(
        "CompletionWithHeadersAndCustomObjectArrayResult",
        b64(
            "lQODo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6A5KGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7"
            "VELPEqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOG"
            "qlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxEYXRlVGltZVBy"
            "b3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgM="
        ),
        Completion("xyz", [MP_CUSTOM, MP_CUSTOM], has_result=True, headers=HEADERS),
    ),
    Vector(
        "CompletionWithNoHeadersAndEnumResult",
        b64("lQOAo3h5egOjT25l"),
        Completion.with_result("xyz", "One"),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdAndSingleNullArg",
        b64("lgGAwKZtZXRob2SRwJA="),
        Invocation("method", (None,)),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdIntAndEnumArgs",
        b64("lgGAwKZtZXRob2SSKqNPbmWQ"),
        Invocation("method", (42, "One")),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdAndCustomObjectArg",
        b64(
            "lgGAwKZtZXRob2STKqZzdHJpbmeGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELP"
            "EqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOQ"
        ),
        Invocation("method", (42, "string", MP_CUSTOM)),
    ),
    Vector(
        "InvocationWithNoHeadersNoIdAndArrayOfCustomObjectArgs",
        b64(
            "lgGAwKZtZXRob2SShqpTdHJpbmdQcm9wqFNpZ25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50UHJv"
            "cCqsRGF0ZVRpbWVQcm9w1v9Y7ByAqE51bGxQcm9wwKtCeXRlQXJyUHJvcMQDAQIDhqpTdHJpbmdQcm9w"
            "qFNpZ25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50UHJvcCqsRGF0ZVRpbWVQcm9w1v9Y7ByAqE51"
            "bGxQcm9wwKtCeXRlQXJyUHJvcMQDAQIDkA=="
        ),
        Invocation("method", (MP_CUSTOM, MP_CUSTOM)),
    ),
    Vector(
        "InvocationWithHeadersNoIdAndArrayOfCustomObjectArgs",
        b64(
            "lgGDo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmXApm1ldGhvZJKGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtA"
            "GSH7VELPEqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMB"
            "AgOGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxEYXRlVGlt"
            "ZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOQ"
        ),
        Invocation("method", (MP_CUSTOM, MP_CUSTOM), headers=HEADERS),
    ),
    Vector("StreamItemWithNoHeadersAndNullItem", b64("lAKAo3h5esA="), StreamItem("xyz", None)),
    Vector("StreamItemWithNoHeadersAndEnumItem", b64("lAKAo3h5eqNPbmU="), StreamItem("xyz", "One")),
    Vector(
        "StreamItemWithNoHeadersAndCustomObjectItem",
        b64(
            "lAKAo3h5eoaqU3RyaW5nUHJvcKhTaWduYWxSIapEb3VibGVQcm9wy0AZIftUQs8Sp0ludFByb3AqrERh"
            "dGVUaW1lUHJvcNb/WOwcgKhOdWxsUHJvcMCrQnl0ZUFyclByb3DEAwECAw=="
        ),
        StreamItem("xyz", MP_CUSTOM),
    ),
    Vector(
        "StreamItemWithNoHeadersAndCustomObjectArrayItem",
        b64(
            "lAKAo3h5epKGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxE"
            "YXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOGqlN0cmluZ1Byb3CoU2ln"
            "bmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFBy"
            "b3DAq0J5dGVBcnJQcm9wxAMBAgM="
        ),
        StreamItem("xyz", [MP_CUSTOM, MP_CUSTOM]),
    ),
    Vector(
        "StreamItemWithHeadersAndCustomObjectArrayItem",
        b64(
            "lAKDo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6koaqU3RyaW5nUHJvcKhTaWduYWxSIapEb3VibGVQcm9wy0AZIftU"
            "Qs8Sp0ludFByb3AqrERhdGVUaW1lUHJvcNb/WOwcgKhOdWxsUHJvcMCrQnl0ZUFyclByb3DEAwECA4aq"
            "U3RyaW5nUHJvcKhTaWduYWxSIapEb3VibGVQcm9wy0AZIftUQs8Sp0ludFByb3AqrERhdGVUaW1lUHJv"
            "cNb/WOwcgKhOdWxsUHJvcMCrQnl0ZUFyclByb3DEAwECAw=="
        ),
        StreamItem("xyz", [MP_CUSTOM, MP_CUSTOM], headers=HEADERS),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndEnumArg",
        b64("lgSAo3h5eqZtZXRob2SRo09uZZA="),
        StreamInvocation("xyz", "method", ("One",)),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndNullArg",
        b64("lgSAo3h5eqZtZXRob2SRwJA="),
        StreamInvocation("xyz", "method", (None,)),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndIntStringAndCustomObjectArgs",
        b64(
            "lgSAo3h5eqZtZXRob2STKqZzdHJpbmeGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7"
            "VELPEqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOQ"
        ),
        StreamInvocation("xyz", "method", (42, "string", MP_CUSTOM)),
    ),
    Vector(
        "StreamInvocationWithNoHeadersAndCustomObjectArrayArg",
        b64(
            "lgSAo3h5eqZtZXRob2SShqpTdHJpbmdQcm9wqFNpZ25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50"
            "UHJvcCqsRGF0ZVRpbWVQcm9w1v9Y7ByAqE51bGxQcm9wwKtCeXRlQXJyUHJvcMQDAQIDhqpTdHJpbmdQ"
            "cm9wqFNpZ25hbFIhqkRvdWJsZVByb3DLQBkh+1RCzxKnSW50UHJvcCqsRGF0ZVRpbWVQcm9w1v9Y7ByA"
            "qE51bGxQcm9wwKtCeXRlQXJyUHJvcMQDAQIDkA=="
        ),
        StreamInvocation("xyz", "method", (MP_CUSTOM, MP_CUSTOM)),
    ),
    Vector(
        "StreamInvocationWithHeadersAndCustomObjectArrayArg",
        b64(
            "lgSDo0Zvb6NCYXKyS2V5V2l0aApOZXcNCkxpbmVzq1N0aWxsIFdvcmtzsVZhbHVlV2l0aE5ld0xpbmVz"
            "sEFsc28KV29ya3MNCkZpbmWjeHl6pm1ldGhvZJKGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJv"
            "cMtAGSH7VELPEqdJbnRQcm9wKqxEYXRlVGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9w"
            "xAMBAgOGqlN0cmluZ1Byb3CoU2lnbmFsUiGqRG91YmxlUHJvcMtAGSH7VELPEqdJbnRQcm9wKqxEYXRl"
            "VGltZVByb3DW/1jsHICoTnVsbFByb3DAq0J5dGVBcnJQcm9wxAMBAgOQ"
        ),
        StreamInvocation("xyz", "method", (MP_CUSTOM, MP_CUSTOM), headers=HEADERS),
    ),
    Vector(
        "SerializerCanSerializeTypesWithNoDefaultCtor",
        bytes([0x95, 3, 0x80, 0xA1, ord("0"), 0x03, 0x91, 42]),
        Completion.with_result("0", [42]),
    ),
    Vector(
        "ParseMessageWithExtraData",
        bytes([0x98, 1, 0x80, 0xA3, *b"xyz", 0xA6, *b"method", 0x90, 0x90, 0xC3, 0xA2, *b"ex"]),
        Invocation("method", (), "xyz"),
        PARSE,
        why="items past StreamIds are read past, never written",
    ),
]


def _body(*items: int | bytes) -> bytes:
    """Join bytes and byte values, as the C# arrays of the rows list them."""
    return b"".join(bytes([i]) if isinstance(i, int) else i for i in items)


_BINDER = (
    "ASP.NET Core names the type its binder expected (String); this codec has no "
    "binder types, so it names Object, the type of an untyped hub method parameter"
)
# MessagePackHubProtocolTestBase.BaseInvalidPayloads and the two ArgumentBindingErrors
# rows that fail before binding (ASP.NET Core turns them into an error Completion).
MSGPACK_REFUSALS: list[Refusal] = [
    Refusal(
        "MessageTypeString", _body(0x91, 0xA3, b"foo"), "Reading 'messageType' as Int32 failed."
    ),
    Refusal(
        "HeadersNotAMap", _body(0x92, 1, 0xA3, b"foo"), "Reading map length for 'headers' failed."
    ),
    Refusal(
        "HeaderKeyInt",
        _body(0x92, 1, 0x82, 0x2A, 0xA3, b"foo"),
        "Reading 'headers[0].Key' as String failed.",
    ),
    Refusal(
        "HeaderValueInt",
        _body(0x92, 1, 0x82, 0xA3, b"foo", 42),
        "Reading 'headers[0].Value' as String failed.",
    ),
    Refusal(
        "HeaderKeyArray",
        _body(0x92, 1, 0x84, 0xA3, b"foo", 0xA3, b"foo", 0x90, 0xA3, b"foo"),
        "Reading 'headers[1].Key' as String failed.",
    ),
    Refusal(
        "HeaderValueArray",
        _body(0x92, 1, 0x84, 0xA3, b"foo", 0xA3, b"foo", 0xA3, b"foo", 0x90),
        "Reading 'headers[1].Value' as String failed.",
    ),
    Refusal(
        "InvocationMissingId", _body(0x92, 1, 0x80), "Reading 'invocationId' as String failed."
    ),
    Refusal(
        "InvocationIdBoolean",
        _body(0x91, 1, 0x80, 0xC2),
        "Reading 'invocationId' as String failed.",
    ),
    Refusal(
        "InvocationTargetMissing",
        _body(0x93, 1, 0x80, 0xA3, b"abc"),
        "Reading 'target' as String failed.",
    ),
    Refusal(
        "InvocationTargetInt",
        _body(0x94, 1, 0x80, 0xA3, b"abc", 42),
        "Reading 'target' as String failed.",
    ),
    Refusal(
        "StreamInvocationMissingId",
        _body(0x92, 4, 0x80),
        "Reading 'invocationId' as String failed.",
    ),
    Refusal(
        "StreamInvocationIdBoolean",
        _body(0x93, 4, 0x80, 0xC2),
        "Reading 'invocationId' as String failed.",
    ),
    Refusal(
        "StreamInvocationTargetMissing",
        _body(0x93, 4, 0x80, 0xA3, b"abc"),
        "Reading 'target' as String failed.",
    ),
    Refusal(
        "StreamInvocationTargetInt",
        _body(0x94, 4, 0x80, 0xA3, b"abc", 42),
        "Reading 'target' as String failed.",
    ),
    Refusal(
        "StreamItemMissingId", _body(0x92, 2, 0x80), "Reading 'invocationId' as String failed."
    ),
    Refusal(
        "StreamItemInvocationIdBoolean",
        _body(0x93, 2, 0x80, 0xC2),
        "Reading 'invocationId' as String failed.",
    ),
    Refusal(
        "CompletionMissingId", _body(0x92, 3, 0x80), "Reading 'invocationId' as String failed."
    ),
    Refusal(
        "CompletionIdBoolean",
        _body(0x93, 3, 0x80, 0xC2),
        "Reading 'invocationId' as String failed.",
    ),
    Refusal(
        "CompletionResultKindString",
        _body(0x94, 3, 0x80, 0xA3, b"xyz", 0xA3, b"xyz"),
        "Reading 'resultKind' as Int32 failed.",
    ),
    Refusal(
        "CompletionResultKindOutOfRange",
        _body(0x94, 3, 0x80, 0xA3, b"xyz", 42),
        "Invalid invocation result kind.",
    ),
    Refusal(
        "CompletionErrorMissing",
        _body(0x94, 3, 0x80, 0xA3, b"xyz", 0x01),
        "Reading 'error' as String failed.",
    ),
    Refusal(
        "CompletionErrorInt",
        _body(0x95, 3, 0x80, 0xA3, b"xyz", 0x01, 42),
        "Reading 'error' as String failed.",
    ),
    Refusal(
        "CompletionResultMissing",
        _body(0x94, 3, 0x80, 0xA3, b"xyz", 0x03),
        "Deserializing object of the `String` type for 'argument' failed.",
        ours="Deserializing object of the `Object` type for 'argument' failed.",
        why=_BINDER,
    ),
    Refusal(
        "InvocationArgumentArrayMissing",
        _body(0x94, 1, 0x80, 0xA3, b"abc", 0xA3, b"xyz"),
        "Reading array length for 'arguments' failed.",
    ),
    Refusal(
        "InvocationArgumentArrayNotAnArray",
        _body(0x95, 1, 0x80, 0xA3, b"abc", 0xA3, b"xyz", 42),
        "Reading array length for 'arguments' failed.",
    ),
    Refusal(
        "StreamInvocationArgumentArrayMissing",
        _body(0x94, 4, 0x80, 0xA3, b"abc", 0xA3, b"xyz"),
        "Reading array length for 'arguments' failed.",
    ),
    Refusal(
        "StreamInvocationArgumentArrayNotAnArray",
        _body(0x95, 4, 0x80, 0xA3, b"abc", 0xA3, b"xyz", 42),
        "Reading array length for 'arguments' failed.",
    ),
]

# MessagePackHubProtocolTestBase.MessageSizeData: the framed size, length prefix included.
MSGPACK_SIZES: list[Size] = [
    Size("InvocationMessage_WithoutInvocationId", Invocation("Target", (1,)), 15),
    Size("InvocationMessage_WithInvocationId", Invocation("Target", (1,), "1"), 16),
    Size(
        "InvocationMessage_WithInvocationIdAndStreamId", Invocation("Target", (1,), "1", ("2",)), 18
    ),
    Size("CloseMessage_Empty", Close(), 5),
    Size("CloseMessage_WithError", Close("error"), 10),
    Size("StreamItemMessage_WithNullItem", StreamItem("1", None), 7),
    Size("StreamItemMessage_WithItem", StreamItem("1", 1), 7),
    Size("CompletionMessage_Empty", Completion.void("1"), 7),
    Size("CompletionMessage_WithResult", Completion.with_result("1", 1), 8),
    Size("CompletionMessage_WithError", Completion.with_error("1", "error"), 13),
    Size("StreamInvocationMessage", StreamInvocation("1", "target", ()), 15),
    Size("StreamInvocationMessage_WithStreamId", StreamInvocation("1", "target", (), ("2",)), 17),
    Size("CancelInvocationMessage", CancelInvocation("1"), 6),
    Size("PingMessage", Ping(), 3),
]
