"""Benchmarks: this project's SignalR server against what a Python user would pick.

Run ``python -m bench run --quick`` (or ``--full``); see docs/bench/README.md.
"""
