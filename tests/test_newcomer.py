"""A newcomer's first minutes: manage.py runs by hand, examples work, nothing stray."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Variables a newcomer's shell does not have.
UNSET = ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS", "DATABASE_URL")


def manage(*args: str, cwd: Path = ROOT, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(variables)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", [["--help"], ["help", "migrate"], ["check"]])
def test_manage_py_works_in_a_checkout_without_debug(args, tmp_path):
    result = manage(*args, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 0, result.stderr
    assert "Configuration error" not in result.stderr
    assert "not properly configured" not in result.stdout + result.stderr
    assert "development settings (DEBUG=1)" in result.stderr


def test_manage_py_with_debug_off_says_exactly_what_to_set(tmp_path):
    result = manage("check", DEBUG="0", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY must be set when DEBUG is off "
        "(set SECRET_KEY, or DEBUG=1 for development; see .env.production.example)"
    ]


def test_each_404_is_logged_once(tmp_path):
    code = (
        "from django.test import Client\n"
        "response = Client(HTTP_HOST='localhost').get('/no-such-page/')\n"
        "assert response.status_code == 404, response.status_code\n"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "Not Found: /no-such-page/" in line]
    assert len(lines) == 1, result.stderr


def test_development_example_works_with_make_run():
    example = (ROOT / ".env.development.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert values["DEBUG"] == "1"
    assert "REDIS_URL" not in values  # make run starts its embedded Redis
    assert "SESSION_COOKIE_SECURE" not in values or values["SESSION_COOKIE_SECURE"] == "0"


def test_production_example_names_every_required_variable():
    example = (ROOT / ".env.production.example").read_text()
    for variable in ("SECRET_KEY=", "DEBUG=0", "ALLOWED_HOSTS=", "DATABASE_URL=", "REDIS_URL="):
        assert variable in example
    assert not (ROOT / ".env.example").exists()


@pytest.mark.parametrize(
    "path", ["signalr_shop.egg-info/PKG-INFO", "db.sqlite3", "run/test-db.sqlite3-wal", ".venv"]
)
def test_generated_files_are_ignored_by_git(path):
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False, timeout=30
    )
    assert result.returncode == 0, f"{path} is not ignored"


def test_make_check_leaves_no_database_file(tmp_path):
    """The commands of ``make check`` create no db.sqlite3 in the checkout."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ncheck:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    database = ROOT / "db.sqlite3"
    existed = database.exists()
    for line in recipe:
        command = line.strip().replace("$(PY)", sys.executable)
        env = {key: value for key, value in os.environ.items() if key not in UNSET}
        result = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
    assert any("makemigrations --check" in line for line in recipe)
    assert existed or not database.exists()
