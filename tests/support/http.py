"""Plain HTTP for tests: one request without redirects, access tokens, URLs."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from urllib.parse import urlsplit


def ws(base_url: str, path: str) -> str:
    """The WebSocket URL of `path` on an http:// base URL."""
    return "ws://" + urlsplit(base_url).netloc + path


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_request(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 30,
) -> tuple[int, dict, bytes]:
    """Send one request without following redirects; return status, headers, body."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def fetch_access_token(base_url: str, username: str, password: str) -> str:
    """Exchange credentials for an access token at ``POST /realtime/token``."""
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, _, payload = http_request("POST", f"{base_url}/realtime/token", data=body)
    if status != 200:
        raise AssertionError(f"POST /realtime/token answered {status}: {payload[:200]!r}")
    return json.loads(payload)["accessToken"]
