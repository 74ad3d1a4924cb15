#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def use_development_defaults() -> None:
    """Run a checkout's commands in development mode when nothing says otherwise.

    Only when neither DEBUG nor SECRET_KEY is in the environment and there is
    no .env file: a deployment sets both (see .env.production.example), and
    DEBUG=0 without a SECRET_KEY still stops with a one-line error.
    """
    if "DEBUG" in os.environ or "SECRET_KEY" in os.environ or (BASE_DIR / ".env").is_file():
        return
    os.environ["DEBUG"] = "1"
    sys.stderr.write(
        "manage.py: DEBUG and SECRET_KEY are not set, so the development settings "
        "(DEBUG=1) are used. Set both for a deployment.\n"
    )


def main() -> None:
    """Run administrative tasks; print bad configuration as one line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    use_development_defaults()
    from django.core.management import execute_from_command_line

    from config.environment import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
