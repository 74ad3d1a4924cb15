"""The smallest Django project that runs realtime/: no shop app, no config/.

The tests of realtime/ that need nothing of the shop run with it
(`tests/realtime/test_standalone.py`), so that the package stays one that
another Django project can add. The session fixtures of tests/conftest.py
point REDIS_URL and CHANNEL_LAYERS at the test run's Redis.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[3]

SECRET_KEY = "realtime-standalone-tests-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "realtime",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.realtime.standalone.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "run" / "standalone.sqlite3",
        "TEST": {"NAME": str(BASE_DIR / "run" / "standalone-test.sqlite3")},
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
    }
}

REDIS_URL = "redis://127.0.0.1:6379/0"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
REALTIME: dict = {}

# realtime/ logs refusals and closes at INFO, each line naming its connection.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"text": {"()": "realtime.logformat.TextFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "text"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"realtime": {"level": "INFO"}},
}
