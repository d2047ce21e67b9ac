"""The beat's leadership lease: one leader at a time, fenced by an epoch.

Rules (the whole protocol):
- A beat becomes leader by taking a lease that is free (no owner) or expired; taking it adds
  one to ``epoch``. The epoch it got is its fencing token.
- The leader renews the lease every tick; a renewal succeeds only while the row still has the
  leader's owner and epoch, so a deposed leader learns it at its next renewal.
- Every transaction that records fires first updates the lease row under the same fence
  (:meth:`LeaseStore.hold`): the row lock (PostgreSQL) or the write lock (SQLite) is then held
  until the fires are recorded and sent, so a standby cannot take over in between, and a leader
  deposed while it was slow finds another epoch and sends nothing.
- A graceful stop releases the lease at once (owner NULL, expired), so a standby need not wait.
  The release waits only a moment for a lock: when the store is locked it gives up, and the
  lease expires by itself (a stop never hangs on a store it cannot write to).
Expiry compares wall clocks of the beats' hosts: keep them synchronised (NTP), as for cron.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from jobs.store.db import bounded_transaction
from jobs.store.tables import beat_lease

DEFAULT_LEASE = "beat"
RELEASE_WAIT = 0.25  # seconds a graceful stop waits for a lock before leaving the lease to expire


@dataclass(frozen=True)
class Fence:
    """What a leader holds: its owner id and the epoch it acquired."""

    owner: str
    epoch: int


@dataclass(frozen=True)
class LeaseStatus:
    owner: str | None
    epoch: int
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_at: datetime | None
    evaluated_at: datetime | None

    def held(self, now: datetime) -> bool:
        """A leader holds it and its last renewal has not run out."""
        return self.owner is not None and self.expires_at is not None and self.expires_at > now


class LeaseStore:
    def __init__(self, engine: Engine, name: str = DEFAULT_LEASE) -> None:
        self.engine = engine
        self.name = name

    def _ensure_row(self, conn: Connection) -> None:
        # The migration inserts the default row; another lease name is created on first use.
        found = conn.execute(select(beat_lease.c.epoch).where(beat_lease.c.name == self.name))
        if found.first() is None:
            conn.execute(beat_lease.insert().values(name=self.name, epoch=0))

    def read(self) -> LeaseStatus:
        with self.engine.connect() as conn:
            row = conn.execute(select(beat_lease).where(beat_lease.c.name == self.name)).first()
        if row is None:
            return LeaseStatus(None, 0, None, None, None, None)
        return LeaseStatus(
            row.owner, int(row.epoch), row.acquired_at, row.renewed_at, row.expires_at,
            row.evaluated_at,
        )  # fmt: skip

    def try_acquire(self, owner: str, now: datetime, ttl: float) -> Fence | None:
        """Take the lease if it is free or expired; the new epoch is the fencing token."""
        try:
            with self.engine.begin() as conn:
                self._ensure_row(conn)
        except IntegrityError:
            pass  # another beat inserted it first
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(beat_lease)
                .where(
                    beat_lease.c.name == self.name,
                    or_(
                        beat_lease.c.owner.is_(None),
                        beat_lease.c.expires_at.is_(None),
                        beat_lease.c.expires_at <= now,
                    ),
                )
                .values(
                    owner=owner,
                    epoch=beat_lease.c.epoch + 1,
                    acquired_at=now,
                    renewed_at=now,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )
            if taken.rowcount != 1:
                return None
            epoch = conn.execute(
                select(beat_lease.c.epoch).where(beat_lease.c.name == self.name)
            ).scalar_one()
        return Fence(owner, int(epoch))

    def hold(
        self,
        conn: Connection,
        fence: Fence,
        now: datetime,
        ttl: float,
        evaluated: bool = False,
    ) -> bool:
        """Renew inside the caller's transaction; False when ``fence`` is no longer the leader's.

        Must be the transaction's first write, so that the lease row stays locked until commit.
        """
        values: dict[str, datetime] = {
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        }
        if evaluated:
            values["evaluated_at"] = now
        result = conn.execute(
            update(beat_lease)
            .where(
                beat_lease.c.name == self.name,
                beat_lease.c.owner == fence.owner,
                beat_lease.c.epoch == fence.epoch,
            )
            .values(**values)
        )
        return result.rowcount == 1

    def renew(self, fence: Fence, now: datetime, ttl: float, evaluated: bool = False) -> bool:
        with self.engine.begin() as conn:
            return self.hold(conn, fence, now, ttl, evaluated)

    def release(self, fence: Fence, now: datetime, wait: float = RELEASE_WAIT) -> bool:
        """Give the lease up at once (graceful stop); the epoch stays for the next leader.

        Raises (``SQLAlchemyError``) when no lock is had within ``wait`` seconds.
        """
        with bounded_transaction(self.engine, wait) as conn:
            result = conn.execute(
                update(beat_lease)
                .where(
                    beat_lease.c.name == self.name,
                    beat_lease.c.owner == fence.owner,
                    beat_lease.c.epoch == fence.epoch,
                )
                .values(owner=None, expires_at=now)
            )
            return result.rowcount == 1
