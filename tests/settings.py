"""The project's settings, with the environment a test run needs by default.

Not a second settings file: it only fills in environment variables that a
developer's shell may lack, then loads config/settings.py unchanged.
"""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from config.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: concurrent workers then wait on the
    # write lock (WAL, IMMEDIATE, busy timeout) as they do in production.
    (BASE_DIR / "run").mkdir(exist_ok=True)  # noqa: F405  (git-ignored)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "run" / "test-db.sqlite3")}  # noqa: F405

# WhiteNoise warns once per test client when STATIC_ROOT is missing; a fresh
# clone has not run collectstatic (the static files tests run it themselves).
Path(STATIC_ROOT).mkdir(exist_ok=True)  # noqa: F405  (git-ignored)
