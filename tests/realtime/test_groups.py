"""Group naming: one format per name, layer-safe and collision-free."""

import re

import pytest

from realtime.groups import layer_group_name, presence_member, user_group

LAYER_SAFE = re.compile(r"^[a-zA-Z\d\-_.]+$")


def test_user_groups_and_presence_members_have_one_format():
    assert user_group(7) == user_group("7") == "user:7"
    assert presence_member("orders", "abc") == "orders|abc"


@pytest.mark.parametrize("name", ["order:42", "user:7", "a" * 300, "ü/ß?*", ":", ""])
def test_layer_group_names_are_channels_safe_and_short(name):
    layer_name = layer_group_name("notifications", name)

    assert LAYER_SAFE.match(layer_name)
    assert len(layer_name) < 100


def test_layer_group_names_keep_similar_names_and_hubs_apart():
    names = {
        layer_group_name("orders", "order:42"),
        layer_group_name("orders", "order_42"),
        layer_group_name("orders", "order-42"),
        layer_group_name("notifications", "order:42"),
    }

    assert len(names) == 4
    assert layer_group_name("orders", "order:42").startswith("orders.order-42.")
