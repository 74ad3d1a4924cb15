"""Django settings: one file, driven by the environment (12-factor).

Every variable is documented in `.env.production.example` and the README. A `.env` file
is read when present; variables already in the OS environment win.
"""

from pathlib import Path

import environ

from config.environment import (
    ConfigurationError,
    channel_layers,
    development_secret_key,
    read_choice,
    read_database_url,
    read_redis_url,
    read_seconds,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# GENERAL ------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY",
            "must be set when DEBUG is off (set SECRET_KEY, or DEBUG=1 for development; "
            "see .env.production.example)",
        )
    # A random key per checkout, kept in run/ (git-ignored), never a constant.
    SECRET_KEY = development_secret_key(BASE_DIR / "run" / "dev-secret-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# APPS ---------------------------------------------------------------------
# daphne first, so `manage.py runserver` serves ASGI (HTTP and WebSockets).
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "realtime",
    "notifications",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

# DATABASES ----------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": read_database_url(
        env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets daphne, run_notifier and the admin read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Keep connections open between requests and hub calls (checked before reuse):
# reopening one per WebSocket connect cost the hubs most of their connect time.
DATABASES["default"]["CONN_MAX_AGE"] = read_seconds(
    "CONN_MAX_AGE", env.str("CONN_MAX_AGE", default="60")
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# AUTHENTICATION -----------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "orders:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# STATIC FILES -------------------------------------------------------------
# https://whitenoise.readthedocs.io/  The official SignalR browser bundles are
# served straight from node_modules (installed by npm, never committed).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/signalr", BASE_DIR / "node_modules/@microsoft/signalr/dist/browser"),
    (
        "vendor/signalr-msgpack",
        BASE_DIR / "node_modules/@microsoft/signalr-protocol-msgpack/dist/browser",
    ),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# REDIS AND CHANNELS -------------------------------------------------------
# https://channels.readthedocs.io/en/latest/topics/channel_layers.html
REDIS_URL = read_redis_url(env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"))
CHANNEL_LAYERS = channel_layers(REDIS_URL)

# REALTIME (the SignalR layer) ---------------------------------------------
# Every key and its default: realtime/conf.py.
# REALTIME_OPTIONS is JSON for any other key, e.g. '{"KEEPALIVE_INTERVAL": 5}'.
try:
    REALTIME = {
        "ALLOWED_ORIGINS": env.list("REALTIME_ALLOWED_ORIGINS", default=[]),
        "METRICS": env.bool("METRICS_ENABLED", default=True),
        "METRICS_TOKEN": env.str("METRICS_TOKEN", default=""),
        **env.json("REALTIME_OPTIONS", default={}),
    }
except ValueError as exc:
    raise ConfigurationError("REALTIME_OPTIONS", f"is not valid JSON ({exc})") from None

# SECURITY -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
)
X_FRAME_OPTIONS = "DENY"

# LOGGING ------------------------------------------------------------------
# One readable line per event (or one JSON object: LOG_FORMAT=json); tokens
# and message bodies are never logged. Fields: realtime/logformat.py.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = read_choice("LOG_FORMAT", env.str("LOG_FORMAT", default="text"), ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "realtime.logformat.TextFormatter"},
        "json": {"()": "realtime.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Django's own console handler (DEBUG only) would print every 404 and
        # 500 a second time: its records reach the root handler instead.
        "django": {"level": "INFO"},
        **{
            name: {"level": LOG_LEVEL}
            for name in ("realtime", "notifications", "orders", "config", "django.request")
        },
    },
}
