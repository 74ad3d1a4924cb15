"""The negotiate -> transport identity hand-off: once, same credential, short-lived."""

import time

import pytest

from realtime import handoff
from realtime.auth import Identity


@pytest.fixture(autouse=True)
def _empty():
    handoff._entries.clear()
    yield
    handoff._entries.clear()


def alice(expires: float | None = None) -> Identity:
    return Identity(user=object(), user_id="7", expires=expires)


def test_the_same_credential_takes_the_identity_once():
    identity = alice()
    handoff.leave("tok", "cookie-1", identity)

    assert handoff.take("tok", "cookie-1") is identity
    assert handoff.take("tok", "cookie-1") is None


def test_another_credential_gets_nothing_and_spends_the_entry():
    handoff.leave("tok", "alice-token", alice())

    assert handoff.take("tok", "bob-token") is None
    assert handoff.take("tok", "alice-token") is None


def test_no_credential_or_no_token_gets_nothing():
    handoff.leave("tok", "cookie-1", alice())

    assert handoff.take("tok", None) is None
    assert handoff.take(None, "cookie-1") is None


def test_anonymous_identities_are_never_kept():
    handoff.leave("tok", "cookie-1", Identity(user=object()))

    assert handoff.take("tok", "cookie-1") is None


def test_an_old_entry_is_not_used(monkeypatch):
    handoff.leave("tok", "cookie-1", alice())
    later = time.monotonic() + handoff.MAX_AGE + 1
    monkeypatch.setattr(handoff.time, "monotonic", lambda: later)

    assert handoff.take("tok", "cookie-1") is None


def test_an_expired_access_token_is_not_used():
    handoff.leave("tok", "token-1", alice(expires=time.time() - 1))

    assert handoff.take("tok", "token-1") is None


def test_the_table_is_bounded(monkeypatch):
    monkeypatch.setattr(handoff, "LIMIT", 3)
    for n in range(5):
        handoff.leave(f"tok{n}", "c", alice())

    assert len(handoff._entries) == 3
    assert handoff.take("tok0", "c") is None
    assert handoff.take("tok4", "c") is not None


def test_credentials_are_kept_as_digests():
    handoff.leave("tok", "secret-session-key", alice())

    (digest, _, _) = handoff._entries["tok"]
    assert "secret-session-key" not in digest


def test_a_revoked_users_identities_are_dropped():
    handoff.leave("tok-1", "cookie-1", alice())
    handoff.leave("tok-2", "cookie-2", Identity(user=object(), user_id="8"))

    handoff.discard_user("7")

    assert handoff.take("tok-1", "cookie-1") is None
    assert handoff.take("tok-2", "cookie-2") is not None
