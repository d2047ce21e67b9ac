"""Users and API tokens in SQL: rows in, rows out. Hashing and rules live in webapp/auth.

Every change (a user added, given a role or a password, removed; a token created or revoked)
writes its audit row in its own transaction (``jobs/store/audit.py``), with ``by`` as the
actor and the row as it was and as it is, without the password hash, the token's hash or
its first characters (:func:`audited_user`, :func:`audited_token`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from jobs.errors import Conflict, NotFound
from jobs.store import audit
from jobs.store.audit import AuditKind
from jobs.store.tables import api_tokens, users

# What the audit log keeps of a user and of a token: never a hash, nor a token's prefix
# (viewers read the log; only admins see the token list).
USER_AUDITED = ("name", "role", "created_at", "updated_at")
TOKEN_AUDITED = ("id", "name", "scopes", "created_by", "created_at", "expires_at", "revoked_at")


@dataclass(frozen=True)
class UserRow:
    name: str
    role: str
    password_hash: str
    session_epoch: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    token_hash: str
    prefix: str
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def _token(row: object) -> TokenRow:
    values = dict(row._mapping)  # type: ignore[attr-defined]  # a SQLAlchemy Row
    values["scopes"] = tuple(values["scopes"].split())
    return TokenRow(**values)


def audited_user(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    """The fields of a ``users`` row the audit log keeps (None stays None)."""
    return None if row is None else {k: row[k] for k in USER_AUDITED}


def audited_token(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    """The fields of an ``api_tokens`` row the audit log keeps, scopes as a list."""
    if row is None:
        return None
    kept = {k: row[k] for k in TOKEN_AUDITED}
    return {**kept, "scopes": str(kept["scopes"]).split()}


class IdentityStore:
    """CRUD for ``users`` and ``api_tokens``; a missing row is NotFound, a taken name Conflict."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # users
    def add_user(self, name: str, role: str, password_hash: str, now: datetime, by: str) -> None:
        row = {"name": name, "role": role, "password_hash": password_hash}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(users).values(**row, session_epoch=0, created_at=now, updated_at=now)
                )
                after = audited_user({**row, "created_at": now, "updated_at": now})
                self._audit(conn, AuditKind.USER, "create", name, None, after, by, now)
        except IntegrityError as exc:
            raise Conflict(f"user {name!r} exists") from exc

    def user(self, name: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return UserRow(**row._mapping) if row else None

    def users(self) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [UserRow(**r._mapping) for r in rows]

    def update_user(self, name: str, now: datetime, *, by: str, action: str, **values: str) -> None:
        """Change the role or password hash (``action`` says which, for the audit log);
        sessions signed before stop counting."""
        stmt = (
            update(users)
            .where(users.c.name == name)
            .values(**values, updated_at=now, session_epoch=users.c.session_epoch + 1)
        )
        with self.engine.begin() as conn:
            before = self._user_row(conn, name)
            conn.execute(stmt)
            after = self._user_row(conn, name)
            self._audit(conn, AuditKind.USER, action, name, before, after, by, now)

    def remove_user(self, name: str, now: datetime, by: str) -> None:
        with self.engine.begin() as conn:
            before = self._user_row(conn, name)
            conn.execute(delete(users).where(users.c.name == name))
            self._audit(conn, AuditKind.USER, "delete", name, before, None, by, now)

    @staticmethod
    def _user_row(conn: Connection, name: str) -> dict[str, Any] | None:
        """The audited fields of user ``name``; NotFound if there is none."""
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user {name!r}")
        return audited_user(row)

    @staticmethod
    def _audit(
        conn: Connection,
        kind: AuditKind,
        action: str,
        subject: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        by: str,
        now: datetime,
    ) -> None:
        audit.record(
            conn, actor=by, action=action, kind=kind, subject=subject,
            before=before, after=after, at=now,
        )  # fmt: skip

    # tokens
    def add_token(
        self,
        name: str,
        token_hash: str,
        prefix: str,
        scopes: Sequence[str],
        created_by: str,
        now: datetime,
        expires_at: datetime | None,
    ) -> int:
        values = {
            "name": name,
            "token_hash": token_hash,
            "prefix": prefix,
            "scopes": " ".join(scopes),
            "created_by": created_by,
            "created_at": now,
            "expires_at": expires_at,
        }
        try:
            with self.engine.begin() as conn:
                result = conn.execute(insert(api_tokens).values(**values))
                key = result.inserted_primary_key
                assert key is not None
                after = audited_token({**values, "id": int(key[0]), "revoked_at": None})
                self._audit(conn, AuditKind.TOKEN, "create", name, None, after, created_by, now)
        except IntegrityError as exc:
            raise Conflict(f"a token named {name!r} exists") from exc
        return int(key[0])

    def token_by_hash(self, token_hash: str) -> TokenRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens).where(api_tokens.c.token_hash == token_hash)
            ).first()
        return _token(row) if row else None

    def tokens(self) -> list[TokenRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.id)).all()
        return [_token(r) for r in rows]

    def revoke_token(self, name: str, now: datetime, by: str) -> None:
        active = (api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        with self.engine.begin() as conn:
            row = conn.execute(select(api_tokens).where(*active)).mappings().first()
            if row is None:
                raise NotFound(f"no active token {name!r}")
            conn.execute(update(api_tokens).where(*active).values(revoked_at=now))
            before = audited_token(row)
            after = audited_token({**row, "revoked_at": now})
            self._audit(conn, AuditKind.TOKEN, "revoke", name, before, after, by, now)

    def touch_token(self, token_id: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
            )
