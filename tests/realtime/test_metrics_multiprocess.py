"""Metrics of one process and of ``--workers N``: every family in both modes.

Each worker here is a real process (tests/realtime/record_metrics.py) that
records one share of every family; with ``PROMETHEUS_MULTIPROC_DIR`` set
they write to files there, as the supervisor's workers do, and the last
one's exposition merges them. The live scrape of two daphne workers is
tests/test_serve_workers_metrics.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from realtime import metrics
from tests.support.processes import ROOT

Samples = dict[tuple[str, frozenset], float]


def run_worker(directory: str | None) -> tuple[int, str, dict]:
    """Run one recording process; return its pid, its exposition and its JSON snapshot."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if directory is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    completed = subprocess.run(
        [sys.executable, "-m", "tests.realtime.record_metrics"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout)
    return result["pid"], result["text"], result["json"]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """The families' types by name, and every sample by (name, labels)."""
    types, samples = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return types, samples


def scrape(directory: str) -> Samples:
    """What a scrape of the directory reports (as `metrics.exposition` builds it)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, directory)
    return parse(generate_latest(registry).decode())[1]


#: The gauges of what a worker holds (``livesum``), set_gauge's plain gauge included.
LIVE_GAUGES = {"realtime_connections_open", "realtime_long_poll_buffers", "realtime_example_level"}


def test_one_process_reports_its_registry():
    """N=1 (tests, ``--workers 1``): /metrics is this process's REGISTRY, as before."""
    assert metrics.MULTIPROCESS_DIR == ""
    assert metrics.machine() is metrics.REGISTRY
    before = metrics.REGISTRY.get_sample_value("realtime_send_failures_total")
    metrics.increment("send_failures")
    text = metrics.exposition().decode()
    assert f"realtime_send_failures_total {before + 1}" in text
    assert text == generate_latest(metrics.REGISTRY).decode()
    assert metrics.snapshot()["send_failures"] == before + 1


def test_every_family_reads_the_same_in_both_modes(tmp_path):
    """One worker in multiprocess mode exports what one plain process exports."""
    _, single_text, single_json = run_worker(None)
    _, multi_text, multi_json = run_worker(str(tmp_path))
    single_types, single = parse(single_text)
    multi_types, multi = parse(multi_text)
    families = {n for n in single_types if n.startswith(("realtime_", "notifier_"))}
    recorded = {name for name, _ in single if single[name, _]}
    # Every family of realtime/metrics.py got a sample, histograms and labels included.
    assert {t for n, t in single_types.items() if n in families} == {
        "counter",
        "gauge",
        "histogram",
    }
    assert all(any(name.startswith(f) for name in recorded) for f in families), families
    assert multi_types == single_types
    assert multi == single
    assert not [name for name, _ in multi if name.endswith("_created")]
    assert multi_json == single_json


def test_workers_add_up_and_a_dead_one_leaves_the_live_gauges(tmp_path):
    """Counters and histograms sum over every worker; livesum gauges over live ones."""
    _, single_text, single_json = run_worker(None)
    single = parse(single_text)[1]
    first, _, _ = run_worker(str(tmp_path))
    second, text, merged_json = run_worker(str(tmp_path))
    assert first != second
    merged = parse(text)[1]
    # /realtime/metrics (staff JSON) reports the machine as /metrics does.
    assert merged_json == {name: 2 * value for name, value in single_json.items()}
    assert merged == scrape(str(tmp_path))
    for (name, labels), value in single.items():
        # The pending rows are the database's, not a worker's: the latest batch's count.
        expected = value if name == "notifier_pending_rows" else 2 * value
        assert merged[name, labels] == expected, (name, dict(labels))

    mark_process_dead(first, str(tmp_path))  # what the supervisor does when a worker exits
    after = scrape(str(tmp_path))
    for (name, labels), value in single.items():
        expected = value if name in LIVE_GAUGES or name == "notifier_pending_rows" else 2 * value
        assert after[name, labels] == expected, (name, dict(labels))
    # The live gauges changed, nothing else: counters never go backwards.
    changed = {name for (name, labels), value in after.items() if value != merged[name, labels]}
    assert changed == LIVE_GAUGES
