"""One broadcast at a time: spaced by the cold broadcast's time, within bounds."""

import math

import pytest

from bench.fanout import spacing


@pytest.mark.parametrize(
    ("cold_ms", "expected"),
    [
        (10.0, 0.25),  # a fast broadcast: the plan's least spacing
        (1000.0, 1.5),  # 1.5 times the cold broadcast
        (5000.0, 2.0),  # never past the plan's most
        (math.nan, 2.0),  # the cold broadcast never completed
    ],
)
def test_spaced_broadcasts_wait_for_the_cold_one_to_be_over(cold_ms, expected):
    assert spacing(cold_ms, 0.25, 2.0) == expected
