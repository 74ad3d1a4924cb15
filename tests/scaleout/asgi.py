"""The test ASGI application of tests/realtime/asgi.py, plus what scale-out tests ask.

`PresenceProbeHub` (anonymous, at /hubs/presence) answers presence questions
from inside the instance that serves it, so a test can ask every instance
the same question. `HubAccessLog` writes one line per hub request naming the
connection it belongs to, so the daphne logs show which instance served
which request of one connection.
"""

import logging
import os

from config.asgi import django_application
from config.routing import build_application
from realtime import Hub, presence
from realtime.auth import query_param
from realtime.store import lookup
from tests.realtime.asgi import TEST_HUBS

logger = logging.getLogger(__name__)
# The project logs only its own apps below WARNING; this line is wanted too.
logger.setLevel(logging.INFO)


class PresenceProbeHub(Hub):
    """Presence, as seen by the instance serving this connection."""

    namespace = "presenceprobe"

    async def connections_of(self, user_id: str) -> list[str]:
        return await presence.get_user_connections(user_id)

    async def is_online(self, user_id: str) -> bool:
        return await presence.is_user_online(user_id)

    async def online_users(self) -> list[str]:
        return await presence.online_users()

    async def server(self) -> int:
        return os.getpid()


class HubAccessLog:
    """Log ``hub <method> <path> connection=<id>`` for every hub request."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith("/hubs/"):
            token = query_param(scope, "id")
            registration = await lookup(token) if token else None
            logger.info(
                "hub %s %s connection=%s",
                scope.get("method", "WEBSOCKET"),
                scope["path"],
                registration.connection_id if registration else "-",
            )
        await self.app(scope, receive, send)


application = HubAccessLog(
    build_application({**TEST_HUBS, "hubs/presence": PresenceProbeHub}, django_application)
)
