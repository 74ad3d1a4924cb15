"""The REALTIME setting: defaults, validation, and lazy access.

`settings.REALTIME` is read on first use and re-read when a test changes it
(`setting_changed`), the way `channels.layers` treats CHANNEL_LAYERS.
"""

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Every key of the REALTIME setting, with its default."""

    #: Origins allowed besides the request's own (e.g. "https://shop.example").
    ALLOWED_ORIGINS: tuple = ()
    #: Largest inbound frame or message, in bytes.
    MAX_MESSAGE_SIZE: int = 32 * 1024
    MAX_INVOCATION_ID_LENGTH: int = 64
    MAX_GROUPS_PER_CONNECTION: int = 100
    #: Sustained invocations per second per connection (burst: twice this).
    MAX_INVOCATIONS_PER_SECOND: float = 50.0
    #: Close a connection after this many refused invocations (rate limit,
    #: unknown method, bad arguments) within 10 seconds.
    MAX_REFUSED_INVOCATIONS: int = 100
    #: Close a connection whose output the client has not taken passes this
    #: many bytes: a client that does not read (it reconnects and catches up).
    MAX_UNSENT_BYTES: int = 1024 * 1024
    HANDSHAKE_TIMEOUT: float = 15.0
    #: Send a Ping after this many idle seconds.
    KEEPALIVE_INTERVAL: float = 15.0
    #: Close a connection that sent nothing for this many seconds.
    CLIENT_TIMEOUT: float = 30.0
    #: Open connections per user across every transport and instance (the
    #: next negotiate answers 429).
    MAX_CONNECTIONS_PER_USER: int = 20
    #: Seconds a negotiated but unused connection token stays valid.
    NEGOTIATE_TTL: float = 30.0
    #: How long a long poll waits for data before answering 200 empty.
    LONG_POLL_TIMEOUT: float = 20.0
    #: Messages buffered for a long-polling client between polls.
    LONG_POLL_BUFFER: int = 1000
    #: Lifetime of a signed access token for non-browser clients.
    ACCESS_TOKEN_MAX_AGE: int = 3600
    #: A crashed instance's group registrations go after this, and a registry
    #: rebuild holds sends back this long at most. (Its connections leave the
    #: registry and presence within seconds: the live instances sweep them.)
    PRESENCE_TTL: float = 60.0
    #: Registry and presence entries expire after this unless re-written (every
    #: third of it): a safety net under the sweep of dead instances' entries.
    ENTRY_LEASE: float = 3600.0
    #: Recipients written per event-loop turn during a fan-out.
    FANOUT_BATCH: int = 256
    #: Seconds between two checks of every live connection's session or access
    #: token (expired, signed out, password changed, user deactivated).
    SESSION_RECHECK_INTERVAL: float = 60.0
    #: Failed ``POST /realtime/token`` attempts allowed per username, and per
    #: client address, within TOKEN_FAILURE_WINDOW seconds; then 429.
    TOKEN_FAILURES_PER_USERNAME: int = 5
    TOKEN_FAILURES_PER_ADDRESS: int = 20
    TOKEN_FAILURE_WINDOW: float = 300.0
    #: Seconds between a process's checks of the registry epoch (Redis restarted
    #: empty, failed over or flushed: re-register everything at once).
    REGISTRY_CHECK_INTERVAL: float = 0.5
    #: Senders trust a new registry epoch only after this many seconds (at
    #: least twice REGISTRY_CHECK_INTERVAL): until then a send raises
    #: DeliveryError and the row stays pending.
    REGISTRY_SETTLE: float = 2.0
    #: Record Prometheus metrics (off: nothing is counted; for measuring their cost).
    METRICS: bool = True
    #: Bearer token a scraper presents at /metrics ("" = staff sessions only).
    METRICS_TOKEN: str = ""
    #: Seconds between this process's stats snapshots in Redis (the dashboard).
    STATS_INTERVAL: float = 3.0
    #: Seconds a client result (``invoke``) waits for the client by default.
    CLIENT_RESULT_TIMEOUT: float = 30.0
    #: Client results one connection may owe at once.
    MAX_PENDING_CLIENT_RESULTS: int = 10
    #: Client-to-server streams open at once on one connection.
    MAX_UPLOAD_STREAMS: int = 10
    #: Items an upload stream holds before the reader waits for the hub
    #: (ASP.NET Core's StreamBufferCapacity).
    UPLOAD_BUFFER: int = 10
    #: Offer stateful reconnect to clients that ask (``withStatefulReconnect()``).
    STATEFUL_RECONNECT: bool = True
    #: Seconds a dropped stateful connection waits for its client to resume it
    #: (on any instance) before the hub's ``on_disconnected`` runs.
    STATEFUL_RECONNECT_WINDOW: float = 30.0
    #: Unacknowledged bytes kept per stateful connection, in memory and, while
    #: it is dropped, in Redis (ASP.NET Core's StatefulReconnectBufferSize).
    STATEFUL_RECONNECT_BUFFER_SIZE: int = 100_000


_cache: RealtimeSettings | None = None


def _coerce(name: str, value: object, default: object) -> object:
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ImproperlyConfigured(f"REALTIME[{name!r}] must be a list of strings")
        return tuple(value)
    if isinstance(default, bool | str):
        return _coerce_plain(name, value, default)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not type(default):
        raise ImproperlyConfigured(
            f"REALTIME[{name!r}] must be {type(default).__name__}, got {value!r}"
        )
    if value <= 0:
        raise ImproperlyConfigured(f"REALTIME[{name!r}] must be positive, got {value!r}")
    return value


#: A shorter bearer token is too easy to guess.
MIN_TOKEN_LENGTH = 24


def _coerce_plain(name: str, value: object, default: bool | str) -> bool | str:
    if type(value) is not type(default):
        raise ImproperlyConfigured(
            f"REALTIME[{name!r}] must be {type(default).__name__}, got {type(value).__name__}"
        )  # the value itself is not echoed: it may be a secret
    if isinstance(value, str) and value and len(value) < MIN_TOKEN_LENGTH:
        raise ImproperlyConfigured(
            f"REALTIME[{name!r}] must be empty or at least {MIN_TOKEN_LENGTH} characters"
        )
    return value


def load(raw: dict) -> RealtimeSettings:
    """Validate a REALTIME dict; raise ImproperlyConfigured naming the bad key."""
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("REALTIME must be a dict")
    known = {f.name: f.default for f in fields(RealtimeSettings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ImproperlyConfigured(f"REALTIME has unknown keys: {', '.join(unknown)}")
    loaded = RealtimeSettings(**{k: _coerce(k, v, known[k]) for k, v in raw.items()})
    if loaded.REGISTRY_SETTLE < 2 * loaded.REGISTRY_CHECK_INTERVAL:
        raise ImproperlyConfigured(
            "REALTIME['REGISTRY_SETTLE'] must be at least twice "
            f"REGISTRY_CHECK_INTERVAL ({loaded.REGISTRY_CHECK_INTERVAL!r}), "
            f"got {loaded.REGISTRY_SETTLE!r}"
        )
    _check_stateful(loaded)
    return loaded


#: Upper bounds of the stateful reconnect settings: what one dropped
#: connection may hold in Redis, and for how long.
MAX_RECONNECT_WINDOW = 3600.0
MAX_RECONNECT_BUFFER = 16 * 1024 * 1024


def _check_stateful(loaded: RealtimeSettings) -> None:
    if loaded.STATEFUL_RECONNECT_WINDOW > MAX_RECONNECT_WINDOW:
        raise ImproperlyConfigured(
            f"REALTIME['STATEFUL_RECONNECT_WINDOW'] must be at most {MAX_RECONNECT_WINDOW:g} "
            f"seconds, got {loaded.STATEFUL_RECONNECT_WINDOW!r}"
        )
    if loaded.STATEFUL_RECONNECT_BUFFER_SIZE > MAX_RECONNECT_BUFFER:
        raise ImproperlyConfigured(
            f"REALTIME['STATEFUL_RECONNECT_BUFFER_SIZE'] must be at most {MAX_RECONNECT_BUFFER} "
            f"bytes, got {loaded.STATEFUL_RECONNECT_BUFFER_SIZE!r}"
        )


def get() -> RealtimeSettings:
    """Return the validated REALTIME settings (read once, then cached)."""
    global _cache
    if _cache is None:
        _cache = load(getattr(settings, "REALTIME", {}))
    return _cache


def _reset(*, setting: str, **kwargs: object) -> None:
    global _cache
    if setting in ("REALTIME", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"):
        _cache = None


setting_changed.connect(_reset, dispatch_uid="realtime.conf.reset")
