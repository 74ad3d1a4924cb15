"""Host and Origin checks: which requests may reach the hubs at all.

`host_allowed` applies Django's ALLOWED_HOSTS to the hub routes, which never
pass through Django's request handling. `origin_allowed` guards against
cross-site WebSocket hijacking and cross-site sends: a browser's Origin must
be the request's own scheme, host and port, or a configured origin.
"""

from __future__ import annotations

import fnmatch
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from realtime import conf

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Django's hosts when DEBUG is on and ALLOWED_HOSTS is empty.
DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def _header(scope: dict, name: bytes) -> str | None:
    for header, value in scope.get("headers", ()):
        if header == name:
            return value.decode("latin-1")
    return None


def request_host(scope: dict) -> str:
    """Return the request's host (and port), as Django's ``get_host`` reads it."""
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = _header(scope, b"x-forwarded-host")
    host = host or _header(scope, b"host")
    if host is None and scope.get("server"):
        name, port = scope["server"][0], scope["server"][1]
        host = name if port is None else f"{name}:{port}"
    return host or ""


def host_allowed(scope: dict) -> bool:
    """Return whether the request's Host is in ALLOWED_HOSTS (Django's rule)."""
    domain, _port = split_domain_port(request_host(scope))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = DEBUG_HOSTS
    return bool(domain) and validate_host(domain, allowed)


def request_scheme(scope: dict) -> str:
    """Return "http" or "https" for a request, trusting the proxy's header as Django does.

    With SECURE_PROXY_SSL_HEADER set (BEHIND_PROXY=1), the proxy's
    X-Forwarded-Proto decides; otherwise the connection itself.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = _header(scope, name)
        if forwarded is not None:
            return "https" if forwarded.split(",", 1)[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("https", "wss") else "http"


def _endpoint(scheme: str, netloc: str) -> tuple[str, str, int | None] | None:
    """Return (scheme, host, port) with the scheme's default port filled in."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS.get(scheme)


def origin_allowed(scope: dict) -> bool:
    """Return whether a request's Origin may talk to the hubs.

    Requests without Origin come from non-browser clients (which carry no
    ambient cookies) and pass. A browser's Origin must name the request's
    own scheme, host and port, or match REALTIME["ALLOWED_ORIGINS"] or
    CSRF_TRUSTED_ORIGINS (``https://*.example.com`` wildcards as Django
    allows).
    """
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme in DEFAULT_PORTS:
        own = _endpoint(request_scheme(scope), request_host(scope))
        if own is not None and _endpoint(parts.scheme, parts.netloc) == own:
            return True
    allowed = (*conf.get().ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS)
    return any(origin == pattern or fnmatch.fnmatchcase(origin, pattern) for pattern in allowed)
