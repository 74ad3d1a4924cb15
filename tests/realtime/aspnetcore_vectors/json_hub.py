"""JsonHubProtocolTestsBase.cs and JsonHubProtocolTests.cs, as facts."""

from __future__ import annotations

import datetime as dt

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
    JSON_HEADERS,
    PARSE,
    Refusal,
    Size,
    Vector,
    custom,
)


def _custom_json(*, camel: bool = True, nulls: bool = False) -> str:
    def key(name: str) -> str:
        return name[0].lower() + name[1:] if camel else name

    null = f',"{key("NullProp")}":null' if nulls else ""
    return (
        f'{{"{key("StringProp")}":"SignalR!","{key("DoubleProp")}":6.2831853071,'
        f'"{key("IntProp")}":42,"{key("DateTimeProp")}":"2017-04-11T00:00:00Z"{null},'
        f'"{key("ByteArrProp")}":"AQID"}}'
    )


def _json_custom_rows() -> list[Vector]:
    """Rows whose payload is a CustomObject: one per serializer option pair."""
    rows = []
    options = {
        "WithNoCamelCase": (False, False),
        "WithNullValueIgnore": (True, False),
        "WithNullValueIgnoreAndNoCamelCase": (False, True),
        "WithNullValueInclude": (True, True),
        "WithNullValueIncludeAndNoCamelCase": (False, True),
    }
    shapes = {
        "InvocationMessage_HasCustomArgument": (
            lambda v: Invocation("Target", (v,)),
            '{{"type":1,"target":"Target","arguments":[{}]}}',
            (
                "WithNoCamelCase",
                "WithNullValueIgnore",
                "WithNullValueIgnoreAndNoCamelCase",
                "WithNullValueInclude",
            ),
        ),
        "StreamItemMessage_HasCustomItem": (
            lambda v: StreamItem("123", v),
            '{{"type":2,"invocationId":"123","item":{}}}',
            (
                "WithNoCamelCase",
                "WithNullValueIgnore",
                "WithNullValueIgnoreAndNoCamelCase",
                "WithNullValueInclude",
            ),
        ),
        "CompletionMessage_HasCustomResult": (
            lambda v: Completion.with_result("123", v),
            '{{"type":3,"invocationId":"123","result":{}}}',
            (
                "WithNoCamelCase",
                "WithNullValueIgnore",
                "WithNullValueIncludeAndNoCamelCase",
                "WithNullValueInclude",
            ),
        ),
        "StreamInvocationMessage_HasCustomArgument": (
            lambda v: StreamInvocation("123", "Target", (v,)),
            '{{"type":4,"invocationId":"123","target":"Target","arguments":[{}]}}',
            (
                "WithNoCamelCase",
                "WithNullValueIgnore",
                "WithNullValueIgnoreAndNoCamelCase",
                "WithNullValueInclude",
            ),
        ),
    }
    for prefix, (build, template, suffixes) in shapes.items():
        for suffix in suffixes:
            camel, nulls = options[suffix]
            wire = template.format(_custom_json(camel=camel, nulls=nulls)).encode()
            rows.append(
                Vector(
                    f"{prefix}{suffix}",
                    wire,
                    build(custom(camel=camel, nulls=nulls)),
                    parsed=build(custom(camel=camel, nulls=nulls, wire=True)),
                )
            )
    return rows


# JsonHubProtocolTestsBase.ProtocolTestData, JsonHubProtocolTests.CustomProtocolTestData
# (rows that apply) and OutOfOrderJsonTestData / ExtraItemsInMessageAreIgnored (read only).
JSON_VECTORS: list[Vector] = [
    Vector(
        "InvocationMessage_HasInvocationId",
        b'{"type":1,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}',
        Invocation("Target", (1, "Foo"), "123"),
    ),
    Vector(
        "InvocationMessage_HasBoolArgument",
        b'{"type":1,"target":"Target","arguments":[true]}',
        Invocation("Target", (True,)),
    ),
    Vector(
        "InvocationMessage_HasNullArgument",
        b'{"type":1,"target":"Target","arguments":[null]}',
        Invocation("Target", (None,)),
    ),
    Vector(
        "InvocationMessage_HasStreamArgument",
        b'{"type":1,"target":"Target","arguments":[],"streamIds":["__test_id__"]}',
        Invocation("Target", (), stream_ids=("__test_id__",)),
    ),
    Vector(
        "InvocationMessage_HasStreamAndNormalArgument",
        b'{"type":1,"target":"Target","arguments":[42],"streamIds":["__test_id__"]}',
        Invocation("Target", (42,), stream_ids=("__test_id__",)),
    ),
    Vector(
        "InvocationMessage_HasMultipleStreams",
        b'{"type":1,"target":"Target","arguments":[],"streamIds":["__test_id__","__test_id2__"]}',
        Invocation("Target", (), stream_ids=("__test_id__", "__test_id2__")),
    ),
    Vector(
        "InvocationMessage_DateTimeOffsetArgument",
        b'{"type":1,"target":"Method","arguments":["2016-05-10T13:51:20+12:34"]}',
        Invocation(
            "Method",
            (
                dt.datetime(
                    2016, 5, 10, 13, 51, 20, tzinfo=dt.timezone(dt.timedelta(hours=12, minutes=34))
                ),
            ),
        ),
        parsed=Invocation("Method", ("2016-05-10T13:51:20+12:34",)),
    ),
    Vector(
        "InvocationMessage_StringIsoDateArgument",
        b'{"type":1,"target":"Method","arguments":["2016-05-10T13:51:20+12:34"]}',
        Invocation("Method", ("2016-05-10T13:51:20+12:34",)),
    ),
    Vector(
        "InvocationMessage_HasNonAsciiArgument",
        '{"type":1,"target":"Method","arguments":["מחרוזת כלשהי"]}'.encode(),
        Invocation("Method", ("מחרוזת כלשהי",)),
    ),
    Vector(
        "InvocationMessage_HasHeaders",
        (
            '{"type":1,' + JSON_HEADERS + ',"invocationId":"123","target":"Target",'
            '"arguments":[1,"Foo",2]}'
        ).encode(),
        Invocation("Target", (1, "Foo", 2), "123", headers=HEADERS),
    ),
    *_json_custom_rows(),
    Vector(
        "StreamItemMessage_HasHeaders",
        (
            '{"type":2,'
            + JSON_HEADERS
            + ',"invocationId":"123","item":'
            + _custom_json(nulls=True)
            + "}"
        ).encode(),
        StreamItem("123", custom(nulls=True), headers=HEADERS),
        parsed=StreamItem("123", custom(nulls=True, wire=True), headers=HEADERS),
    ),
    Vector(
        "StreamItemMessage_HasIntegerItem",
        b'{"type":2,"invocationId":"123","item":1}',
        StreamItem("123", 1),
    ),
    Vector(
        "StreamItemMessage_HasStringItem",
        b'{"type":2,"invocationId":"123","item":"Foo"}',
        StreamItem("123", "Foo"),
    ),
    Vector(
        "StreamItemMessage_HasBoolItem",
        b'{"type":2,"invocationId":"123","item":true}',
        StreamItem("123", True),
    ),
    Vector(
        "StreamItemMessage_HasNullItem",
        b'{"type":2,"invocationId":"123","item":null}',
        StreamItem("123", None),
    ),
    Vector(
        "CompletionMessage_HasErrorAndCamelCase",
        b'{"type":3,"invocationId":"123"}',
        Completion.void("123"),
    ),
    Vector(
        "CompletionMessage_HasTestHeadersAndCustomItemResult",
        (
            '{"type":3,'
            + JSON_HEADERS
            + ',"invocationId":"123","result":'
            + _custom_json(nulls=True)
            + "}"
        ).encode(),
        Completion("123", custom(nulls=True), has_result=True, headers=HEADERS),
        parsed=Completion("123", custom(nulls=True, wire=True), has_result=True, headers=HEADERS),
    ),
    Vector(
        "CompletionMessage_HasErrorAndHeadersAndCamelCase",
        ('{"type":3,' + JSON_HEADERS + ',"invocationId":"123"}').encode(),
        Completion("123", headers=HEADERS),
    ),
    Vector(
        "CompletionMessage_HasIntegerResult",
        b'{"type":3,"invocationId":"123","result":1}',
        Completion.with_result("123", 1),
    ),
    Vector(
        "CompletionMessage_HasStringResult",
        b'{"type":3,"invocationId":"123","result":"Foo"}',
        Completion.with_result("123", "Foo"),
    ),
    Vector(
        "CompletionMessage_HasBoolResult",
        b'{"type":3,"invocationId":"123","result":true}',
        Completion.with_result("123", True),
    ),
    Vector(
        "CompletionMessage_HasNullResult",
        b'{"type":3,"invocationId":"123","result":null}',
        Completion.with_result("123", None),
    ),
    Vector(
        "CompletionMessage_HasError",
        b'{"type":3,"invocationId":"123","error":"Whoops!"}',
        Completion.with_error("123", "Whoops!"),
    ),
    Vector(
        "CompletionMessage_HasErrorAndHeaders",
        ('{"type":3,' + JSON_HEADERS + ',"invocationId":"123","error":"Whoops!"}').encode(),
        Completion("123", error="Whoops!", headers=HEADERS),
    ),
    Vector(
        "StreamInvocationMessage_HasHeaders",
        (
            '{"type":4,'
            + JSON_HEADERS
            + ',"invocationId":"123","target":"Target","arguments":['
            + _custom_json(nulls=True)
            + "]}"
        ).encode(),
        StreamInvocation("123", "Target", (custom(nulls=True),), headers=HEADERS),
        parsed=StreamInvocation("123", "Target", (custom(nulls=True, wire=True),), headers=HEADERS),
    ),
    Vector(
        "StreamInvocationMessage_HasInvocationId",
        b'{"type":4,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}',
        StreamInvocation("123", "Target", (1, "Foo")),
    ),
    Vector(
        "StreamInvocationMessage_HasBoolArgument",
        b'{"type":4,"invocationId":"123","target":"Target","arguments":[true]}',
        StreamInvocation("123", "Target", (True,)),
    ),
    Vector(
        "StreamInvocationMessage_HasNullArgument",
        b'{"type":4,"invocationId":"123","target":"Target","arguments":[null]}',
        StreamInvocation("123", "Target", (None,)),
    ),
    Vector(
        "StreamInvocationMessage_HasStreamArgument",
        b'{"type":4,"invocationId":"123","target":"Target","arguments":[],"streamIds":["__test_id__"]}',
        StreamInvocation("123", "Target", (), stream_ids=("__test_id__",)),
    ),
    Vector(
        "CancelInvocationMessage_HasInvocationId",
        b'{"type":5,"invocationId":"123"}',
        CancelInvocation("123"),
    ),
    Vector(
        "CancelInvocationMessage_HasHeaders",
        ('{"type":5,' + JSON_HEADERS + ',"invocationId":"123"}').encode(),
        CancelInvocation("123", headers=HEADERS),
    ),
    Vector("PingMessage", b'{"type":6}', Ping()),
    Vector("CloseMessage", b'{"type":7}', Close()),
    Vector("CloseMessage_HasError", b'{"type":7,"error":"Error!"}', Close("Error!")),
    Vector("CloseMessage_HasErrorEmptyString", b'{"type":7,"error":""}', Close("")),
    Vector("CloseMessage_HasErrorWithCamelCase", b'{"type":7,"error":"Error!"}', Close("Error!")),
    Vector(
        "CloseMessage_HasAllowReconnect", b'{"type":7,"allowReconnect":true}', Close(None, True)
    ),
    Vector(
        "CloseMessage_HasErrorAndAllowReconnect",
        b'{"type":7,"error":"Error!","allowReconnect":true}',
        Close("Error!", True),
    ),
    # OutOfOrderJsonTestData: properties in any order, with whitespace.
    Vector(
        "InvocationMessage_StringIsoDateArgumentFirst",
        b'{ "arguments": ["2016-05-10T13:51:20+12:34"], "type":1, "target": "Method" }',
        Invocation("Method", ("2016-05-10T13:51:20+12:34",)),
        PARSE,
        why="ASP.NET Core writes its own key order, not this one",
    ),
    Vector(
        "InvocationMessage_IntegerArrayArgumentFirst",
        b'{ "arguments": [1,2], "type":1, "target": "Method" }',
        Invocation("Method", (1, 2)),
        PARSE,
        why="ASP.NET Core writes its own key order, not this one",
    ),
    Vector(
        "StreamInvocationMessage_IntegerArrayArgumentFirst",
        b'{ "type":4, "arguments": [1,2], "target": "Method", "invocationId": "3" }',
        StreamInvocation("3", "Method", (1, 2)),
        PARSE,
        why="ASP.NET Core writes its own key order, not this one",
    ),
    Vector(
        "CompletionMessage_ResultFirst",
        b'{ "type":3, "result": 10, "invocationId": "15" }',
        Completion.with_result("15", 10),
        PARSE,
        why="ASP.NET Core writes its own key order, not this one",
    ),
    Vector(
        "StreamItemMessage_ItemFirst",
        b'{ "item": "foo", "invocationId": "1a", "type":2 }',
        StreamItem("1a", "foo"),
        PARSE,
        why="ASP.NET Core writes its own key order, not this one",
    ),
    Vector(
        "ExtraItemsInMessageAreIgnored",
        b'{"type":1,"invocationId":"42","target":"foo","arguments":[],"extraParameter":"1"}',
        Invocation("foo", (), "42"),
        PARSE,
        why="unknown properties are read past, never written",
    ),
]

# JsonHubProtocolTestsBase.InvalidMessages and JsonHubProtocolTests.CustomInvalidMessages,
# plus InvalidNestingWhileBindingTypesFails.
_STREAMING_READER = (
    "the row is invalid JSON after the bad header; ASP.NET Core's streaming reader "
    "meets the header first, this server parses the whole record first"
)
JSON_REFUSALS: list[Refusal] = [
    Refusal("null", b"null", "Unexpected JSON Token Type 'Null'. Expected a JSON Object."),
    Refusal("string", b'"foo"', "Unexpected JSON Token Type 'String'. Expected a JSON Object."),
    Refusal("array", b"[42]", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."),
    Refusal("number", b"42", "Unexpected JSON Token Type 'Number'. Expected a JSON Object."),
    Refusal("empty", b"", "Error reading JSON."),
    Refusal("no-type", b"{}", "Missing required property 'type'."),
    Refusal("string-type", b'{"type":"foo"}', "Expected 'type' to be of type Number."),
    *(
        Refusal(
            f"header-{kind}",
            b'{"type":1,"headers":{"Foo": ' + value + b'},"target":"test",arguments:[]}',
            "Expected header 'Foo' to be of type String.",
            ours="Error reading JSON.",
            why=_STREAMING_READER,
        )
        for kind, value in (("int", b"42"), ("bool", b"true"), ("null", b"null"), ("array", b"[]"))
    ),
    Refusal("invocation-no-target", b'{"type":1}', "Missing required property 'target'."),
    Refusal(
        "invocation-int-id",
        b'{"type":1,"invocationId":42}',
        "Expected 'invocationId' to be of type String.",
    ),
    Refusal(
        "invocation-id-no-target",
        b'{"type":1,"invocationId":"42"}',
        "Missing required property 'target'.",
    ),
    Refusal(
        "invocation-int-target",
        b'{"type":1,"invocationId":"42","target":42}',
        "Expected 'target' to be of type String.",
    ),
    Refusal(
        "invocation-no-arguments",
        b'{"type":1,"invocationId":"42","target":"foo"}',
        "Missing required property 'arguments'.",
    ),
    Refusal(
        "invocation-object-arguments",
        b'{"type":1,"invocationId":"42","target":"foo","arguments":{}}',
        "Expected 'arguments' to be of type Array.",
    ),
    Refusal("item-no-id", b'{"type":2}', "Missing required property 'invocationId'."),
    Refusal(
        "item-int-id",
        b'{"type":2,"invocationId":42}',
        "Expected 'invocationId' to be of type String.",
    ),
    Refusal("item-no-item", b'{"type":2,"invocationId":"42"}', "Missing required property 'item'."),
    Refusal("completion-no-id", b'{"type":3}', "Missing required property 'invocationId'."),
    Refusal(
        "completion-int-id",
        b'{"type":3,"invocationId":42}',
        "Expected 'invocationId' to be of type String.",
    ),
    Refusal(
        "completion-array-error",
        b'{"type":3,"invocationId":"42","error":[]}',
        "Expected 'error' to be of type String.",
    ),
    Refusal("stream-no-id", b'{"type":4}', "Missing required property 'invocationId'."),
    Refusal(
        "stream-int-id",
        b'{"type":4,"invocationId":42}',
        "Expected 'invocationId' to be of type String.",
    ),
    Refusal(
        "stream-int-target",
        b'{"type":4,"invocationId":"42","target":42}',
        "Expected 'target' to be of type String.",
    ),
    Refusal(
        "stream-no-arguments",
        b'{"type":4,"invocationId":"42","target":"foo"}',
        "Missing required property 'arguments'.",
    ),
    Refusal(
        "stream-object-arguments",
        b'{"type":4,"invocationId":"42","target":"foo","arguments":{}}',
        "Expected 'arguments' to be of type Array.",
    ),
    Refusal(
        "completion-error-and-result",
        b'{"type":3,"invocationId":"42","error":"foo","result":true}',
        "The 'error' and 'result' properties are mutually exclusive.",
    ),
    Refusal("truncated", b'{"type":3,"invocationId":"42","result":true', "Error reading JSON."),
    Refusal(
        "InvalidNestingWhileBindingTypesFails",
        b'{"type":1,"invocationId":"42","target":"foo","arguments":[[}]}',
        "Error reading JSON.",
    ),
]

# JsonHubProtocolTestsBase.MessageSizeData: the framed size, 0x1E included.
JSON_SIZES: list[Size] = [
    Size("InvocationMessage_WithoutInvocationId", Invocation("Target", (1,)), 45),
    Size("InvocationMessage_WithInvocationId", Invocation("Target", (1,), "1"), 64),
    Size(
        "InvocationMessage_WithInvocationIdAndStreamId", Invocation("Target", (1,), "1", ("2",)), 82
    ),
    Size("CloseMessage_Empty", Close(), 11),
    Size("CloseMessage_WithError", Close("error"), 27),
    Size("StreamItemMessage_WithNullItem", StreamItem("1", None), 42),
    Size("StreamItemMessage_WithItem", StreamItem("1", 1), 39),
    Size("CompletionMessage_Empty", Completion.void("1"), 30),
    Size("CompletionMessage_WithResult", Completion.with_result("1", 1), 41),
    Size("CompletionMessage_WithError", Completion.with_error("1", "error"), 46),
    Size("StreamInvocationMessage", StreamInvocation("1", "target", ()), 63),
    Size("StreamInvocationMessage_WithStreamId", StreamInvocation("1", "target", (), ("2",)), 81),
    Size("CancelInvocationMessage", CancelInvocation("1"), 30),
    Size("PingMessage", Ping(), 11),
]
