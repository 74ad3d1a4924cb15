"""Origin checks against cross-site WebSocket hijacking and cross-site sends."""

from __future__ import annotations

import fnmatch
import logging
from urllib.parse import urlsplit

from django.conf import settings

from realtime import conf

logger = logging.getLogger(__name__)


def _header(scope: dict, name: bytes) -> str | None:
    for header, value in scope.get("headers", ()):
        if header == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope: dict) -> bool:
    """Return whether a request's Origin may talk to the hubs.

    Requests without Origin come from non-browser clients (which carry no
    ambient cookies) and pass. A browser's Origin must be the request's own
    host, or match REALTIME["ALLOWED_ORIGINS"] or CSRF_TRUSTED_ORIGINS
    (``https://*.example.com`` wildcards as Django allows).
    """
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc == _header(scope, b"host"):
        return True
    allowed = (*conf.get().ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS)
    return any(origin == pattern or fnmatch.fnmatchcase(origin, pattern) for pattern in allowed)
