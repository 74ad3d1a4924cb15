"""The project's ASGI application plus the test hubs (for live daphne tests)."""

from config.asgi import django_application
from config.routing import HUBS, build_application
from tests.realtime.hubs import AudienceHub, EchoHub, ResultHub, ResumeHub, SecureHub

TEST_HUBS = {
    **HUBS,
    "hubs/echo": EchoHub,
    "hubs/secure": SecureHub,
    "hubs/audience": AudienceHub,
    "hubs/results": ResultHub,
    "hubs/resume": ResumeHub,
}

application = build_application(TEST_HUBS, django_application)
