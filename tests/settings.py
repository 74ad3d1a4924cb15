"""The project's settings, with the environment a test run needs by default.

Not a second settings file: it only fills in environment variables that a
developer's shell may lack, then loads config/settings.py unchanged.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from config.settings import *  # noqa: F403
