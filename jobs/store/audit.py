"""The audit log: who changed a schedule, a policy, a user or a token, when, and how.

Writers call :func:`record` with the connection of the transaction that makes the change,
so the change and its audit row commit together or not at all::

    with engine.begin() as conn:
        before = ...  # the subject as it was (None when it is created)
        conn.execute(update(users)...)
        audit.record(
            conn, actor=principal.name, action="update", kind=AuditKind.USER,
            subject=name, before=before, after=after, reason=None, at=now,
        )

``before`` and ``after`` are JSON-ready dicts of the subject's fields (datetimes become ISO
8601 text); pass None for the side that does not exist (create, delete). Never put a secret
in them: a token's or password's hash stays out (:func:`without_secrets` drops the keys named
in ``SECRET_KEYS``). ``actor`` is who made the change as the front end authenticated them
(``Principal.actor`` in ``webapp/auth``: a user's name, ``token:NAME``, ``cli:OS-USER``,
``anonymous@loopback`` in open development; ``code`` for code-declared schedules), never a
name the client sent: a ``changed_by`` it claims is only a note beside it
(:func:`with_claim`), and filtering by actor finds the rows with a note too. Truncated to
the column. Reads are paged, newest first, filtered by kind, subject, actor and action
(:meth:`AuditLog.page`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select

from jobs.store.tables import audit_log

SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "secret", "hash"})
ACTOR_LENGTH = 200
MAX_PAGE = 1000
CLAIM_NOTE = " (claimed: "  # then the claimed name and ")"


class AuditKind(StrEnum):
    SCHEDULE = "schedule"
    POLICY = "policy"
    USER = "user"
    TOKEN = "token"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    kind: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def with_claim(actor: str, claimed: str | None) -> str:
    """``actor``, with a different name the client claimed as a note: ``"ann (claimed: bob)"``."""
    if not claimed or claimed == actor:
        return actor
    return f"{actor}{CLAIM_NOTE}{claimed})"


def without_secrets(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-ready copy of ``values`` without secret fields (None stays None)."""
    if values is None:
        return None
    return {k: _plain(v) for k, v in values.items() if k not in SECRET_KEYS}


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    kind: AuditKind | str,
    subject: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime,
    reason: str | None = None,
) -> None:
    """Write one audit row inside the caller's transaction (see the module docstring)."""
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=(actor or "unknown")[:ACTOR_LENGTH],
            action=action,
            kind=str(kind),
            subject=subject[:200],
            before=without_secrets(before),
            after=without_secrets(after),
            reason=reason,
        )
    )


class AuditLog:
    """Reading (and trimming) the audit log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(
        self,
        *,
        kind: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; ``before_id`` is the cursor (the last id of the previous page)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(min(limit, MAX_PAGE))
        for column, value in (
            (audit_log.c.kind, kind),
            (audit_log.c.subject, subject),
            (audit_log.c.action, action),
        ):
            if value is not None:
                query = query.where(column == value)
        if actor is not None:  # the actor's rows, with or without a claimed name beside it
            noted = audit_log.c.actor.startswith(actor + CLAIM_NOTE, autoescape=True)
            query = query.where(or_(audit_log.c.actor == actor, noted))
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with self.engine.connect() as conn:
            return [AuditEntry(**row) for row in conn.execute(query).mappings()]

    def trim(self, older_than: datetime) -> int:
        """Delete entries written before ``older_than``; how many went."""
        with self.engine.begin() as conn:
            return conn.execute(delete(audit_log).where(audit_log.c.at < older_than)).rowcount
