"""Settings of the stock Channels peer: nothing but Channels and a Redis layer.

``BENCH_CHANNEL_LAYER`` picks the channels-redis layer: ``core``
(RedisChannelLayer) or ``pubsub`` (RedisPubSubChannelLayer), each with its
default capacity and expiry. One change from the documented
``{"hosts": [url]}``: with redis-py 8 a pool holds at most 100 connections,
and the core layer failed a third of 300 simultaneous connects with
MaxConnectionsError (HTTP 500). The peer gets the same pool options as this
project's own layer (config/environment.py), so it is measured working.
"""

import os

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-peer-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
ROOT_URLCONF = "bench.peers.channels_urls"
ASGI_APPLICATION = "bench.peers.channels_app.application"
DATABASES: dict = {}
USE_TZ = True

_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[os.environ.get("BENCH_CHANNEL_LAYER", "core")],
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                    "socket_timeout": None,
                    "max_connections": 2000,
                }
            ]
        },
    }
}
