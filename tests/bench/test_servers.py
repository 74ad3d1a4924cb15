"""The benchmark's peers listen as ours does: same accept queue, same opening timeout.

Each peer's real server process is started by the harness and its listening
socket's queue read with ``ss`` (Send-Q of a listening socket is its
backlog), so a storm measures the servers, not their default queues.
"""

import subprocess

import pytest

from bench.servers import CONTENDERS, command_for, start_server
from realtime.server.serve import BACKLOG, CONNECT_TIMEOUT

#: Peers whose server needs nothing outside the test extras.
PEERS = ("raw-websockets", "channels-core", "channels-pubsub")


def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on `port`, as the kernel reports it."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[2])


@pytest.mark.parametrize("name", PEERS)
def test_peer_listens_with_our_backlog(name, redis_url, tmp_path):
    server, port, _ = start_server(
        CONTENDERS[name], rpc=False, redis_url=redis_url, workdir=tmp_path
    )
    try:
        assert listen_backlog(port) == BACKLOG
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("raw-websockets", "--open-timeout"),
        ("channels-core", "--websocket_connect_timeout"),
        ("channels-pubsub", "--websocket_connect_timeout"),
    ],
)
def test_peer_waits_for_an_opening_as_long_as_ours(name, option):
    command = command_for(CONTENDERS[name], CONTENDERS[name].app, 8000)
    assert float(command[command.index(option) + 1]) == CONNECT_TIMEOUT


def test_ours_and_the_channels_peer_get_the_same_daphne_arguments():
    ours = command_for(CONTENDERS["ours-daphne"], "app", 8000)
    peer = command_for(CONTENDERS["channels-core"], "app", 8000)
    assert ours[ours.index("realtime.server") + 1 :] == peer[peer.index("daphne") + 1 :]
