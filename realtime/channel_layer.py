"""The channels_redis core layer, with process channels on one shard when it has several hosts.

channels_redis 4.3 picks the host of a message for a process-specific
channel (``name!local``) by the hash of the whole name in `send`, but
receives from the host of ``name!`` (django/channels#1492): with several
hosts most messages to a process channel land where nobody reads them.
Here both hash ``name!``. With one host nothing changes.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer


class ShardedRedisChannelLayer(RedisChannelLayer):
    """RedisChannelLayer that sends to a process channel on the host it is received from."""

    def consistent_hash(self, value):
        if isinstance(value, str) and "!" in value:
            value = self.non_local_name(value)
        return super().consistent_hash(value)
