"""Prometheus metrics of this process, through prometheus_client.

Every label value comes from code, never from a client: hub namespaces,
transport names, reasons chosen here, hub method targets from the hub's
method table and client event names each hub declares (`Hub.client_events`).
Anything else is counted as "other", so a client cannot grow the series
(no user ids, connection ids or group names as labels).

``increment(name)`` and ``set_gauge(name, value)`` stay for the plain
counters (``messages_dropped``, ``send_failures``...): each becomes the family
``realtime_<name>_total`` (counters) or ``realtime_<name>`` (gauges).
With ``REALTIME["METRICS"]`` off, nothing is recorded.

Under ``realtime.server --workers N`` every worker records into files of
the directory in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode, which it chooses when imported; the supervisor makes the
directory) and `exposition` merges them, so one scrape of any worker
reports the machine: counters and histograms summed over every worker that
ran since the supervisor started, gauges summed over the live ones
(``livesum``). `totals` still reads this process alone, for its stats
snapshot.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from functools import cache
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from realtime import conf

OTHER = "other"
#: Seconds: from a fast local write to a slow broadcast over Redis.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
#: Refusals kept in memory for the dashboard (published with the stats snapshot).
RECENT_REFUSALS = 50
#: The directory every worker of this machine writes its metrics to; empty
#: for a single process. Read once, as prometheus_client reads it on import.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
#: Gauges of what a process holds: the machine's value is the sum over live
#: workers, and a dead worker's share leaves with it (`mark_process_dead`).
LIVE_SUM = "livesum"

# A `_created` series per counter doubles the output for a timestamp that
# Prometheus can infer from resets.
disable_created_metrics()
REGISTRY = CollectorRegistry()

connections_open = Gauge(
    "realtime_connections_open",
    "Connections open (in every live worker under --workers N).",
    ["hub", "transport"],
    registry=REGISTRY,
    multiprocess_mode=LIVE_SUM,
)
connects = Counter(
    "realtime_connects", "Connections that completed opening.", ["hub", "transport"],
    registry=REGISTRY,
)  # fmt: skip
disconnects = Counter(
    "realtime_disconnects",
    "Connections that ended, by reason (client_closed, timeout, handshake_timeout, "
    "token_expired, revoked, protocol_error, slow_consumer, shutdown, server_error).",
    ["hub", "reason"],
    registry=REGISTRY,
)
refusals = Counter(
    "realtime_refusals", "Requests refused before a connection opened, by reason.",
    ["status", "reason"], registry=REGISTRY,
)  # fmt: skip
invocations = Counter(
    "realtime_invocations",
    "Hub method invocations by outcome (ok, hub_error, refused, error, rate_limited).",
    ["hub", "method", "outcome"],
    registry=REGISTRY,
)
invocation_seconds = Histogram(
    "realtime_invocation_duration_seconds", "Time to run a hub method.", ["hub", "method"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
messages_sent = Counter(
    "realtime_messages_sent", "Client events sent (one per send call).", ["hub", "target"],
    registry=REGISTRY,
)  # fmt: skip
fanout_seconds = Histogram(
    "realtime_fanout_duration_seconds",
    "From the sender's publish to the frame written to the last local socket.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
backplane_lag = Histogram(
    "realtime_backplane_lag_seconds",
    "From the sender's publish to this process receiving it from Redis.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
bytes_sent = Counter(
    "realtime_sent_bytes", "Bytes of SignalR frames written to clients.", registry=REGISTRY
)
redis_seconds = Histogram(
    "realtime_redis_roundtrip_seconds", "Redis PING round trip, sampled every STATS_INTERVAL.",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
redis_errors = Counter(
    "realtime_redis_errors", "Redis operations that failed.", ["operation"], registry=REGISTRY
)
long_poll_buffers = Gauge(
    "realtime_long_poll_buffers",
    "Long-polling connections open (each has a Redis buffer).",
    registry=REGISTRY,
    multiprocess_mode=LIVE_SUM,
)
pending_rows = Gauge(  # a fact about the database: the last batch's count stands
    "notifier_pending_rows", "Rows waiting for run_notifier after its last batch.", ["kind"],
    registry=REGISTRY, multiprocess_mode="mostrecent",
)  # fmt: skip
batch_seconds = Histogram(
    "notifier_batch_duration_seconds", "Time of one run_notifier batch.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY,
)  # fmt: skip
batch_published = Counter(
    "notifier_published", "Rows run_notifier published.", ["kind"], registry=REGISTRY
)
batch_errors = Counter(
    "notifier_batch_errors", "run_notifier batches that failed.", registry=REGISTRY
)
_HELP = {
    "messages_dropped": "Channel-layer drops: a process channel was full.",
    "send_failures": "Client events that could not reach every server (Redis down or full).",
    "backplane_errors": "Failed receives from this process's channel-layer channel.",
    "long_poll_overflows": "Long-polling clients closed because their buffer was full.",
    "frames_sent": "Broadcast frames written to local sockets.",
    "slow_consumers_closed": "Connections closed because they did not read their output.",
}
_plain: dict[str, Counter | Gauge] = {}
_plain_lock = threading.Lock()
_children: dict[tuple, Any] = {}
recent_refusals: deque[dict] = deque(maxlen=RECENT_REFUSALS)


def enabled() -> bool:
    """Return whether metrics are recorded (``REALTIME["METRICS"]``)."""
    return conf.get().METRICS


def _plain_metric(name: str, kind: type[Counter] | type[Gauge]) -> Counter | Gauge:
    metric = _plain.get(name)
    if metric is None:
        with _plain_lock:
            metric = _plain.get(name)
            if metric is None:
                options = {"multiprocess_mode": LIVE_SUM} if kind is Gauge else {}
                metric = kind(
                    f"realtime_{name}",
                    _HELP.get(name, name.replace("_", " ")),
                    registry=REGISTRY,
                    **options,
                )
                _plain[name] = metric
    return metric


def increment(name: str, amount: int = 1) -> None:
    """Add to a plain counter (e.g. "messages_dropped")."""
    if enabled():
        _plain_metric(name, Counter).inc(amount)


def set_gauge(name: str, value: float) -> None:
    """Set a plain gauge to this process's current value (workers' values add up)."""
    if enabled():
        _plain_metric(name, Gauge).set(value)


def _child(family: Any, *labels: str) -> Any:
    # prometheus_client's .labels() takes a lock and builds a key on each
    # call; the hot paths (each invocation, each broadcast) reuse the child.
    key = (id(family), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = family.labels(*labels)
    return child


#: The client events each hub declares, by namespace (`Hub.client_events`).
_client_events: dict[str, frozenset[str]] = {}


def declare_hub(namespace: str, client_events: frozenset[str]) -> None:
    """Record a hub's namespace and client event names (labels; from Hub)."""
    _client_events[namespace] = frozenset(client_events)


def method_label(hub_class: Any, target: str) -> str:
    """Return the hub method's own target name, or "other" for names not in its table."""
    method = hub_class.find_method(target) if hub_class is not None else None
    return method.target if method is not None else OTHER


def target_label(namespace: str, target: str) -> str:
    """Return a client event name the hub declares in `client_events`, or "other"."""
    return target if target in _client_events.get(namespace, ()) else OTHER


for _name in _HELP:  # exported from the start, at 0: an alert needs the series
    _plain_metric(_name, Counter)
for _operation in ("send", "ping", "stats"):
    _child(redis_errors, _operation)


# Recorders (one line at each call site) -----------------------------------------


def connection_opened(hub: str, transport: str) -> None:
    """Count a connection that opened."""
    if enabled():
        _child(connects, hub, transport).inc()
        _child(connections_open, hub, transport).inc()
        if transport == "LongPolling":
            long_poll_buffers.inc()


def connection_closed(hub: str, transport: str, reason: str) -> None:
    """Count a connection that ended, and why."""
    if enabled():
        _child(disconnects, hub, reason).inc()
        _child(connections_open, hub, transport).dec()
        if transport == "LongPolling":
            long_poll_buffers.dec()


def refused(status: int, reason: str, user: str = "") -> None:
    """Count a refused request; keep it for the dashboard (no secrets: reason and user)."""
    if enabled():
        _child(refusals, str(status), reason).inc()
        recent_refusals.append(
            {"time": time.time(), "status": status, "reason": reason, "user": user}
        )


def invoked(hub_class: Any, target: str, outcome: str, seconds: float) -> None:
    """Count an invocation and its duration."""
    if enabled():
        hub, method = hub_class.namespace, method_label(hub_class, target)
        _child(invocations, hub, method, outcome).inc()
        _child(invocation_seconds, hub, method).observe(seconds)


def sent(namespace: str, target: str) -> None:
    """Count one client event sent to an audience."""
    if enabled():
        hub = namespace if namespace in _client_events else OTHER
        _child(messages_sent, hub, target_label(namespace, target)).inc()


def fanned_out(sent_at: float | None, received_at: float, frames: int, nbytes: int) -> None:
    """Record a finished local fan-out: lag, latency, frames and bytes."""
    if not enabled():
        return
    if sent_at is not None:
        backplane_lag.observe(max(0.0, received_at - sent_at))
        fanout_seconds.observe(max(0.0, time.time() - sent_at))
    _plain_metric("frames_sent", Counter).inc(frames)
    bytes_sent.inc(nbytes)


def wrote(nbytes: int) -> None:
    """Count bytes written to one client outside a broadcast."""
    if enabled():
        bytes_sent.inc(nbytes)


def redis_failed(operation: str) -> None:
    """Count a failed Redis operation ("send", "stats", "ping"...)."""
    if enabled():
        _child(redis_errors, operation).inc()


def batch_done(seconds: float, published: dict[str, int], pending: dict[str, int]) -> None:
    """Record a run_notifier batch that finished."""
    if enabled():
        batch_seconds.observe(seconds)
        for kind, count in published.items():
            _child(batch_published, kind).inc(count)
        for kind, count in pending.items():
            _child(pending_rows, kind).set(count)


def batch_failed() -> None:
    """Count a run_notifier batch that failed."""
    if enabled():
        batch_errors.inc()


# Reading ------------------------------------------------------------------------------


@cache
def machine() -> CollectorRegistry:
    """The registry of the whole machine: every worker's files, or this process's REGISTRY."""
    if not MULTIPROCESS_DIR:
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged, MULTIPROCESS_DIR)
    return merged


def exposition() -> bytes:
    """The machine's metrics in Prometheus' text format (what /metrics serves)."""
    return generate_latest(machine())


def totals(registry: CollectorRegistry = REGISTRY) -> dict[str, float]:
    """Sum every family over its labels (`name` → value); this process's by default."""
    result: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket")):
                continue
            result[sample.name] = result.get(sample.name, 0) + sample.value
    return result


def by_label(sample_name: str, *labels: str) -> dict[str, float]:
    """Values of one sample name keyed by the given labels joined with "/"."""
    result: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == sample_name and sample.value:
                key = "/".join(sample.labels.get(label, "") for label in labels)
                result[key] = result.get(key, 0) + sample.value
    return result


def snapshot() -> dict[str, float]:
    """Return the machine's plain counters and open connections (/realtime/metrics)."""
    values = totals(machine())
    plain = {name: values.get(f"realtime_{name}_total", 0) for name in _plain}
    plain.update({n: values[f"realtime_{n}"] for n in _plain if f"realtime_{n}" in values})
    return {**plain, "connections_open": values.get("realtime_connections_open", 0)}
