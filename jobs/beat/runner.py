"""The beat's life around its engine: leadership, outages, pacing. No loop of its own.

- **Leadership.** A beat sends only while it holds the lease (``jobs.store.lease``). A
  standby tries to take it every ``standby_poll`` seconds, so it leads within
  ``lease_ttl + standby_poll`` of a leader's death; the leader renews it every tick and
  every transaction that sends is fenced by it. A leader that cannot renew, or finds the
  lease taken, drops its engine at once; a new leader loads the schedules afresh and the
  catch-up policies decide what fell due during the handover.
- **Outages.** A store or broker failure never ends the beat. It is logged once, when it
  starts, and once when it ends ("broker back, N fires pending"); in between the beat
  retries with capped exponential backoff, keeps its schedule in memory, and while only
  the broker is away keeps renewing its lease so a standby does not take over for nothing.
  When the failed part is back, each schedule's catch-up policy decides what fell due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from broker.publisher import RETRYABLE
from jobs.beat.dispatch import BrokerDownError
from jobs.beat.engine import BeatEngine, Clock, Monotonic, utcnow
from jobs.store.fires import FencedOutError, Guard
from jobs.store.lease import Fence, LeaseStore

log = logging.getLogger(__name__)

Part = Literal["store", "broker"]


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after the n-th failure in a row: first * factor**(n-1), at most cap."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 5.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.first * self.factor ** max(0, failures - 1)))


@dataclass(frozen=True)
class RunnerConfig:
    lease_ttl: float = 1.2  # a standby takes over this long after the leader's last renewal
    standby_poll: float = 0.2
    renew_every: float = 0.3  # at most this long between renewals: a quarter of the lease

    @classmethod
    def for_lease(cls, lease_ttl: float, backoff: Backoff | None = None) -> RunnerConfig:
        return cls(
            lease_ttl=lease_ttl,
            standby_poll=min(0.2, lease_ttl / 6),
            renew_every=lease_ttl / 4,
            backoff=backoff or Backoff(),
        )

    backoff: Backoff = field(default_factory=Backoff)


@dataclass
class Outage:
    part: Part
    since: float  # monotonic
    failures: int
    retry_at: float  # monotonic


class BeatRunner:
    def __init__(
        self,
        make_engine: Callable[[Guard], BeatEngine],
        lease: LeaseStore,
        owner: str,
        probe_broker: Callable[[], None],
        *,
        clock: Clock = utcnow,
        monotonic: Monotonic = time.monotonic,
        config: RunnerConfig | None = None,
    ) -> None:
        self.make_engine = make_engine
        self.lease = lease
        self.owner = owner
        self.probe_broker = probe_broker
        self.clock = clock
        self.monotonic = monotonic
        self.config = config or RunnerConfig()
        self.fence: Fence | None = None
        self.engine: BeatEngine | None = None
        self.outage: Outage | None = None
        self._next_try = 0.0  # standby: next attempt at the lease
        self._next_renew = 0.0
        self._renewed = 0.0  # monotonic time of the last successful renewal

    @property
    def leading(self) -> bool:
        return self.fence is not None

    def tick(self) -> float:
        """One step; returns seconds to sleep. Never raises for a store or broker failure."""
        try:
            return self._step()
        except FencedOutError:
            self._depose("another beat took the lease; this one stops sending")
            return self.config.standby_poll
        except BrokerDownError as exc:
            return self._failed("broker", exc)
        except SQLAlchemyError as exc:
            return self._failed("store", exc)

    def stop(self) -> None:
        """Graceful stop: give the lease up at once so that a standby takes over now.

        The release waits only briefly for a lock; a store it cannot write to leaves the
        lease to expire, so the stop never hangs."""
        fence, self.fence, self.engine = self.fence, None, None
        if fence is None:
            return
        try:
            released = self.lease.release(fence, self.clock())
        except SQLAlchemyError as exc:
            log.warning("beat: could not release the lease (%s); it expires by itself", exc)
            return
        if released:
            log.info("beat: lease released (epoch %d)", fence.epoch)

    # -- the step -----------------------------------------------------------------------------
    def _step(self) -> float:
        mono = self.monotonic()
        if self.outage is not None:
            if mono < self.outage.retry_at:
                if self.outage.part == "broker" and self.fence is not None:
                    self._keep_lease(mono)
                    return min(self.outage.retry_at, self._next_renew) - mono
                return self.outage.retry_at - mono
            self._probe(self.outage.part)  # raises while it is still down
            self._back(mono)
        if self.fence is None:
            return self._stand_by(mono)
        if mono - self._renewed > self.config.lease_ttl and not self._renew(evaluated=False):
            return self.config.standby_poll  # our lease ran out and someone else holds it
        if self.engine is None or not self.engine.loaded:
            self.engine = self.make_engine(self._guard)
            self.engine.start()
        wait = self.engine.tick()
        if not self._renew(evaluated=True):
            return self.config.standby_poll
        return max(0.0, min(wait, self._next_renew - self.monotonic()))

    def _guard(self, conn: Connection) -> bool:
        fence = self.fence
        if fence is None:
            return False
        return self.lease.hold(conn, fence, self.clock(), self.config.lease_ttl, evaluated=True)

    def _stand_by(self, mono: float) -> float:
        if mono < self._next_try:
            return self._next_try - mono
        return 0.0 if self._try_lead(mono) else self.config.standby_poll

    def _try_lead(self, mono: float) -> bool:
        self._next_try = mono + self.config.standby_poll
        fence = self.lease.try_acquire(self.owner, self.clock(), self.config.lease_ttl)
        if fence is None:
            return False
        self.fence, self.engine = fence, None
        self._mark_renewed(mono)
        log.info("beat: %s leads (epoch %d)", self.owner, fence.epoch)
        return True

    def _renew(self, evaluated: bool) -> bool:
        fence = self.fence
        assert fence is not None
        if not self.lease.renew(fence, self.clock(), self.config.lease_ttl, evaluated):
            self._depose("the lease was taken by another beat")
            return False
        self._mark_renewed(self.monotonic())
        return True

    def _keep_lease(self, mono: float) -> None:
        if mono >= self._next_renew:
            self._renew(evaluated=False)

    def _mark_renewed(self, mono: float) -> None:
        self._renewed = mono
        self._next_renew = mono + self.config.renew_every

    def _depose(self, why: str) -> None:
        if self.fence is not None:
            epoch = self.fence.epoch
            log.warning("beat: %s no longer leads (epoch %d): %s", self.owner, epoch, why)
        self.fence, self.engine = None, None

    # -- outages ------------------------------------------------------------------------------
    def _probe(self, part: Part) -> None:
        if part == "broker":
            try:
                self.probe_broker()
            except RETRYABLE as exc:
                raise BrokerDownError(f"broker unreachable: {exc}") from exc
        elif self.fence is not None:
            self._renew(evaluated=False)  # a real write: the store takes writes again
        else:
            # A write too: reads pass while another process holds SQLite's write lock.
            self._try_lead(self.monotonic())

    def _failed(self, part: Part, exc: BaseException) -> float:
        mono = self.monotonic()
        exc = getattr(exc, "orig", None) or exc  # the driver's error, without the SQL
        outage = self.outage
        if outage is None or outage.part != part:
            if part == "broker":
                log.error("beat: broker lost (%s); fires wait, retrying with backoff", exc)
            else:
                log.error("beat: store lost (%s); schedules kept in memory, retrying", exc)
            outage = self.outage = Outage(part, mono, 0, mono)
        outage.failures += 1
        delay = self.config.backoff.delay(outage.failures)
        outage.retry_at = mono + delay
        if part == "broker" and self.fence is not None:
            return max(0.0, min(delay, self._next_renew - mono))  # keep the lease meanwhile
        return delay

    def _back(self, mono: float) -> None:
        outage = self.outage
        assert outage is not None
        self.outage = None
        pending = self.engine.overdue() if self.engine is not None else 0
        log.warning(
            "beat: %s back after %.1f s, %d fires pending",
            outage.part,
            mono - outage.since,
            pending,
        )
        if self.engine is not None and self.fence is not None and self.engine.loaded:
            self.engine.recover()
