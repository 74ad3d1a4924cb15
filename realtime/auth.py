"""Who is connecting: the Django session, or a short-lived signed access token.

Browsers authenticate with the session cookie (AuthMiddlewareStack puts the
user in the scope). Non-browser clients pass a token from
`issue_access_token` through the client's ``accessTokenFactory``: it arrives
as ``?access_token=`` (WebSockets, SSE) or ``Authorization: Bearer``. Tokens
are never logged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import signing

from realtime import conf

SALT = "realtime.access-token"


@dataclass(frozen=True, slots=True)
class Identity:
    """The result of authenticating a request."""

    user: Any
    user_id: str = ""
    expires: float | None = None
    error: str = ""


def issue_access_token(user: Any) -> str:
    """Return a signed token naming `user`, valid for ACCESS_TOKEN_MAX_AGE seconds."""
    expires = int(time.time()) + conf.get().ACCESS_TOKEN_MAX_AGE
    return signing.dumps({"u": str(user.pk), "e": expires}, salt=SALT)


def query_param(scope: dict, name: str) -> str | None:
    """Return one query-string parameter of an ASGI scope."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def _bearer(scope: dict) -> str | None:
    for header, value in scope.get("headers", ()):
        if header == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return query_param(scope, "access_token")


async def authenticate(scope: dict) -> Identity:
    """Identify the user of a request from its token or its session."""
    token = _bearer(scope)
    if token:
        try:
            payload = signing.loads(token, salt=SALT)
        except signing.BadSignature:
            return Identity(AnonymousUser(), error="invalid access token")
        if not isinstance(payload, dict) or payload.get("e", 0) <= time.time():
            return Identity(AnonymousUser(), error="expired access token")
        user = (
            await get_user_model()
            ._default_manager.filter(pk=payload.get("u"), is_active=True)
            .afirst()
        )
        if user is None:
            return Identity(AnonymousUser(), error="access token of an unknown or inactive user")
        return Identity(user, str(user.pk), float(payload["e"]))
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return Identity(user, str(user.pk))
    return Identity(AnonymousUser())
