"""The channels_redis core layer: process channels on one shard, a send in one round trip.

channels_redis 4.3 picks the host of a message for a process-specific
channel (``name!local``) by the hash of the whole name in `send`, but
receives from the host of ``name!`` (django/channels#1492): with several
hosts most messages to a process channel land where nobody reads them.
Here both hash ``name!``. With one host nothing changes.

And its `send` makes four round trips to Redis, one after the other: drop
the expired messages, count, add, refresh the expiry. Every message between
processes is such a send (a broadcast's hand-over to each process holding
members, a revocation, a long-polling client's invocation). Here the same
four commands run in one script: one round trip, and atomic, so concurrent
senders cannot take a channel past its capacity. The message is stored as
channels_redis stores it, and received by its own `receive`.
"""

from __future__ import annotations

import time
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

#: KEYS[1] the channel's sorted set; ARGV: expired before, capacity, now,
#: the serialized message, the expiry in seconds. Returns 1 when added.
_SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class ShardedRedisChannelLayer(RedisChannelLayer):
    """RedisChannelLayer that sends to a process channel on the host it is received from."""

    def consistent_hash(self, value):
        if isinstance(value, str) and "!" in value:
            value = self.non_local_name(value)
        return super().consistent_hash(value)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send a message onto a channel (ChannelFull when it holds its capacity)."""
        if not isinstance(message, dict):
            raise TypeError("message is not a dict")
        self.require_valid_channel_name(channel)  # TypeError when invalid
        if "__asgi_channel__" in message:
            raise ValueError("message uses the reserved key __asgi_channel__")
        name = channel
        if "!" in channel:  # a process channel: its full name travels in the message
            message = {**message, "__asgi_channel__": channel}
            name = self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        now, expiry = time.time(), int(self.expiry)
        added = await self.connection(index).eval(
            _SEND, 1, self.prefix + name,
            int(now) - expiry, self.get_capacity(channel), now, self.serialize(message), expiry,
        )  # fmt: skip
        if not added:
            raise ChannelFull()
