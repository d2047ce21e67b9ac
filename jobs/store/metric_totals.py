"""Metric totals shared by every web process: one process counts, all of them read.

Rules (the whole protocol; jobs/monitoring/counting.py is the process side):
- The counting process holds the lease named ``metrics`` (jobs/store/lease.py) and adds its
  deltas to ``metric_totals`` in one transaction whose first write renews that lease under its
  fence (owner and epoch): a deposed leader's flush changes nothing and says so (``False``).
- The same transaction records the flush in ``metric_marks``: the epoch, a flush number
  counted from 1 in each epoch, and the newest change time counted so far. A flush whose
  commit was in doubt (the connection broke) is known to have landed when the mark shows its
  epoch and number, so it is never added twice. The next leader starts counting after
  ``counted_through``.
- A flush waits at most ``wait`` seconds for a lock and then raises: the caller keeps its
  deltas and tries again.
- Series are (metric, labels): labels as canonical JSON (keys sorted, no spaces), so the same
  labels always name the same row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine, select

from jobs.store.attempts import upsert
from jobs.store.db import bounded_transaction
from jobs.store.lease import Fence, LeaseStore
from jobs.store.tables import metric_marks, metric_totals

METRICS_LEASE = "metrics"
FLUSH_WAIT = 1.0  # seconds a flush waits for a lock before it gives up (deltas are kept)

Series: TypeAlias = tuple[str, str]  # (metric, canonical labels JSON)


def label_key(labels: Mapping[str, str]) -> str:
    """The canonical JSON of ``labels``: one spelling for the same label set."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Mark:
    """What the last committed flush recorded."""

    epoch: int
    seq: int
    counted_through: datetime | None


@dataclass(frozen=True)
class Batch:
    """One flush: the deltas, its number in the leader's epoch, the newest change counted."""

    seq: int
    deltas: Mapping[Series, float]
    counted_through: datetime | None


class MetricTotals:
    def __init__(self, engine: Engine, name: str = METRICS_LEASE, wait: float = FLUSH_WAIT):
        self.engine = engine
        self.lease = LeaseStore(engine, name)
        self.name = name
        self.wait = wait

    def totals(self) -> list[tuple[str, dict[str, str], float]]:
        """Every series with its total."""
        query = select(metric_totals.c.metric, metric_totals.c.labels, metric_totals.c.value)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(m, json.loads(labels), float(v)) for m, labels, v in rows]

    def mark(self) -> Mark:
        with self.engine.connect() as conn:
            row = conn.execute(select(metric_marks).where(metric_marks.c.name == self.name)).first()
        if row is None:
            return Mark(0, 0, None)
        return Mark(int(row.epoch), int(row.seq), row.counted_through)

    def flush(self, fence: Fence, batch: Batch, now: datetime, ttl: float) -> bool:
        """Add ``batch`` to the totals and renew the lease, in one transaction; False (and
        nothing written) when ``fence`` is no longer the leader's."""
        with bounded_transaction(self.engine, self.wait) as conn:
            if not self.lease.hold(conn, fence, now, ttl):
                return False
            self._add(conn, batch.deltas)
            self._record(conn, fence, batch)
        return True

    @staticmethod
    def _add(conn: Connection, deltas: Mapping[Series, float]) -> None:
        if not deltas:
            return
        insert = upsert(conn)(metric_totals)
        stmt = insert.on_conflict_do_update(
            index_elements=[metric_totals.c.metric, metric_totals.c.labels],
            set_={"value": metric_totals.c.value + insert.excluded.value},
        )
        # Sorted: two writers (a deposed leader's last try, the new one) lock rows in one order.
        rows = [{"metric": m, "labels": lb, "value": v} for (m, lb), v in sorted(deltas.items())]
        conn.execute(stmt, rows)

    def _record(self, conn: Connection, fence: Fence, batch: Batch) -> None:
        values: dict[str, Any] = {"epoch": fence.epoch, "seq": batch.seq}
        if batch.counted_through is not None:
            values["counted_through"] = batch.counted_through
        insert = upsert(conn)(metric_marks).values(name=self.name, **values)
        conn.execute(
            insert.on_conflict_do_update(index_elements=[metric_marks.c.name], set_=values)
        )
