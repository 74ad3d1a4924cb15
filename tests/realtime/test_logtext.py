"""realtime.logtext.clip: client text in a log line is short and stays on one line."""

import pytest

from realtime.logtext import clip


def test_short_plain_text_is_unchanged():
    assert clip("SubscribeToOrder") == "SubscribeToOrder"


def test_long_text_is_cut_and_says_how_much_was_cut():
    assert clip("A" * 30_000) == "A" * 100 + "…[+29900 chars]"
    assert clip("abcdef", limit=3) == "abc…[+3 chars]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("rs\x1e", "rs\\x1e"),
        ("nel\x85", "nel\\x85"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("back\\slash", "back\\\\slash"),
        ("é ü 漢字", "é ü 漢字"),
    ],
)
def test_control_characters_are_escaped(text, expected):
    assert clip(text) == expected


def test_the_result_never_splits_into_lines():
    everything = "".join(map(chr, range(0x3000)))
    clipped = clip(everything, limit=len(everything))
    assert len(clipped.splitlines()) == 1


def test_anything_is_turned_into_text():
    assert clip(ValueError("bad\nvalue")) == "bad\\nvalue"
