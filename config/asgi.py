"""ASGI entry point: Django views over HTTP, SignalR hubs over HTTP and WebSockets.

Run with ``daphne config.asgi:application`` (or ``uvicorn``).
"""

import os
import sys

from django.core.asgi import get_asgi_application

from config.environment import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    django_application = get_asgi_application()
except ConfigurationError as exc:
    sys.stderr.write(f"Configuration error: {exc}\n")
    raise SystemExit(2) from None

from config.routing import HUBS, build_application

application = build_application(HUBS, django_application)
