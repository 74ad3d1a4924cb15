"""Rows that must reach clients after commit: the lease both publishers share.

Orders and notifications are published the same way: a row is claimed under
a short lease, sent, then released. The claim lives here, below both apps
(config → orders → notifications → outbox), so neither imports the other for
it. Plain Django, no app: nothing to install.
"""

from outbox.querysets import LEASE, ClaimQuerySet, take_lease

__all__ = ["LEASE", "ClaimQuerySet", "take_lease"]
