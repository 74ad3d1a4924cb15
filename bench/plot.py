"""fanout.png: fan-out time and back-to-back throughput against N."""

from __future__ import annotations

from pathlib import Path

#: One colour per contender, the same in every plot.
COLORS = {
    "ours-daphne": "tab:blue",
    "ours-daphne-baseline": "tab:olive",
    "ours-uvicorn": "tab:cyan",
    "ours-daphne-msgpack": "navy",
    "ours-daphne-nometrics": "tab:gray",
    "ours-daphne-stateful": "tab:olive",
    "raw-websockets": "tab:orange",
    "socketio": "tab:green",
    "channels-core": "tab:red",
    "channels-pubsub": "tab:purple",
}


def plot(results: dict, path: Path) -> None:
    """Fan-out time and back-to-back throughput against N, one line per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for c in results["contenders"].values():
        sizes = sorted(int(s) for s in (c.get("fanout") or {}))
        if not sizes:
            continue
        for axis, mode, key in ((left, "spaced", "complete_ms"), (right, "burst", "throughput")):
            fanout = c["fanout"]
            entries = [fanout.get(s) or fanout.get(str(s)) for s in sizes]
            values = [e.get(mode, {}).get(key) for e in entries]
            points = [(s, v) for s, v in zip(sizes, values, strict=True) if v and v.get("runs")]
            if not points:
                continue
            xs = [s for s, _ in points]
            ys = [v["median"] for _, v in points]
            low = [v["median"] - v["min"] for _, v in points]
            high = [v["max"] - v["median"] for _, v in points]
            style = "-" if c["name"].startswith("ours") else "--"
            axis.errorbar(
                xs,
                ys,
                yerr=[low, high],
                fmt=f"o{style}",
                capsize=3,
                label=c["label"],
                color=COLORS.get(c["name"]),
            )
    left.set(
        title="One broadcast: time until the last client has it",
        xlabel="clients (N)",
        ylabel="ms (median, min-max bars)",
        xscale="log",
        yscale="log",
    )
    right.set(
        title="Back to back: delivered messages per second",
        xlabel="clients (N)",
        ylabel="msg/s (median, min-max bars)",
        xscale="log",
        yscale="log",
    )
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"Fan-out, {results['plan']['name']} plan, {results['meta']['started']}")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
