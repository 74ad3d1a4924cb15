"""``python -m config.serve``: daphne, with an access log that never shows secrets.

The official clients put the connection token (``?id=``) and, for SSE and
WebSockets, the access token (``?access_token=``) in query strings, and
daphne's access log prints whole request URIs. This entry point takes
exactly daphne's command-line arguments and logs paths without query strings.
"""

import sys

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server


class RedactingAccessLog(AccessLogGenerator):
    """daphne's access log, minus query strings."""

    def __call__(self, protocol: str, action: str, details: dict) -> None:
        path = details.get("path")
        if isinstance(path, str) and "?" in path:
            details = {**details, "path": path.split("?", 1)[0] + "?…"}
        super().__call__(protocol, action, details)


class RedactingServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs) -> None:
        if isinstance(action_logger, AccessLogGenerator):
            action_logger = RedactingAccessLog(action_logger.stream)
        super().__init__(*args, action_logger=action_logger, **kwargs)


class Cli(CommandLineInterface):
    server_class = RedactingServer


if __name__ == "__main__":
    Cli.entrypoint() if len(sys.argv) > 1 else Cli().run(["--help"])
