"""Host and Origin rules of the hub routes (pure functions over an ASGI scope)."""

import pytest

from realtime.security import host_allowed, origin_allowed


def scope(host: str | None = "shop.test", origin: str | None = None, **extra) -> dict:
    headers = []
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(k.encode(), v.encode()) for k, v in extra.pop("headers", {}).items()]
    return {"type": "websocket", "headers": headers, **extra}


@pytest.mark.parametrize(
    ("request_scope", "allowed"),
    [
        (scope(origin="http://shop.test"), True),
        (scope(origin="http://SHOP.test:80"), True),
        (scope("shop.test:8765", origin="http://shop.test:8765"), True),
        (scope(origin="https://shop.test"), False),  # another scheme
        (scope("shop.test:8765", origin="https://shop.test:8765"), False),
        (scope("shop.test:8765", origin="http://shop.test:8766"), False),  # another port
        (scope("shop.test:8765", origin="http://shop.test"), False),
        (scope(origin="http://evil.example"), False),
        (scope(origin="null"), False),
        (scope(None, origin="http://shop.test"), False),
        (scope(origin="https://shop.test", scheme="wss"), True),
        (scope(origin="http://shop.test", scheme="wss"), False),
        (scope(), True),  # no Origin: not a browser
    ],
)
def test_origin_must_match_scheme_host_and_port(request_scope, allowed, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    assert origin_allowed(request_scope) is allowed


@pytest.mark.parametrize(
    ("forwarded", "origin", "allowed"),
    [
        ("https", "https://shop.test", True),
        ("https", "http://shop.test", False),
        ("http", "https://shop.test", False),
        (None, "http://shop.test", True),  # no header: the connection's own scheme
    ],
)
def test_behind_a_proxy_x_forwarded_proto_is_the_scheme(forwarded, origin, allowed, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = {} if forwarded is None else {"x-forwarded-proto": forwarded}
    assert origin_allowed(scope(origin=origin, headers=headers)) is allowed


def test_x_forwarded_proto_is_ignored_unless_the_proxy_is_trusted(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    request = scope(origin="https://shop.test", headers={"x-forwarded-proto": "https"})
    assert origin_allowed(request) is False


def test_configured_origins_are_allowed(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    settings.REALTIME = {"ALLOWED_ORIGINS": ["https://app.partner.test"]}
    assert origin_allowed(scope(origin="https://www.example.com"))
    assert origin_allowed(scope(origin="https://app.partner.test"))
    assert not origin_allowed(scope(origin="https://app.partner.test.evil"))


@pytest.mark.parametrize(
    ("hosts", "debug", "host", "allowed"),
    [
        (["shop.test"], False, "shop.test", True),
        (["shop.test"], False, "shop.test:8000", True),
        (["shop.test"], False, "evil.example", False),
        ([".shop.test"], False, "www.shop.test", True),
        (["shop.test"], False, "", False),
        (["*"], False, "anything.example", True),
        ([], True, "localhost:8000", True),
        ([], True, "evil.example", False),
        ([], False, "localhost", False),
    ],
)
def test_hosts_follow_allowed_hosts_as_django_does(hosts, debug, host, allowed, settings):
    settings.ALLOWED_HOSTS = hosts
    settings.DEBUG = debug
    assert host_allowed(scope(host or None)) is allowed


def test_without_a_host_header_the_server_address_is_the_host(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    assert host_allowed(scope(None, server=("127.0.0.1", 8000)))
