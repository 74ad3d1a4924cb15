"""The row-lease claim of a publisher, as a QuerySet idiom."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

#: How long a claim keeps other publishers away. A publisher that dies after
#: claiming delays the row by this much; the worker's sweep then takes it.
LEASE = timedelta(seconds=60)


def _free_at(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


class ClaimQuerySet(models.QuerySet):
    """A QuerySet of rows with a ``claimed_until`` lease column.

    ``claim()`` is one conditional UPDATE, so two publishers (two processes,
    or a view's on-commit callback and the worker) never both win a row, on
    PostgreSQL and SQLite alike. A publisher that already holds the row's
    lock (``select_for_update``) takes the lease with `take_lease` instead.
    """

    def claimable(self) -> ClaimQuerySet:
        """Rows nobody holds a lease on now."""
        return self.filter(_free_at(timezone.now()))

    def claim(self, *, lease: timedelta = LEASE) -> int:
        """Lease the unclaimed rows of this QuerySet; return how many were won."""
        now = timezone.now()
        return self.filter(_free_at(now)).update(claimed_until=now + lease)

    def release(self, **fields: Any) -> int:
        """End the lease on these rows, setting `fields` in the same UPDATE."""
        return self.update(claimed_until=None, **fields)


def take_lease(row: models.Model, *, lease: timedelta = LEASE) -> bool:
    """Lease a row this transaction holds locked; return whether it was free.

    Sets ``row.claimed_until``; the caller saves it with its other fields,
    in the same transaction (one write instead of a claim of its own).
    """
    now = timezone.now()
    if row.claimed_until is not None and row.claimed_until >= now:
        return False
    row.claimed_until = now + lease
    return True
