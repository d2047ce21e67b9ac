"""Users and API tokens in SQL: rows in, rows out. Hashing and rules live in webapp/auth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from jobs.errors import Conflict, NotFound
from jobs.store.tables import api_tokens, users


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


class IdentityStore:
    """CRUD for ``users`` and ``api_tokens``; a missing row is NotFound, a taken name Conflict."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # users
    def add_user(self, name: str, role: str, password_hash: str, now: datetime) -> None:
        row = {"name": name, "role": role, "password_hash": password_hash}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(users).values(**row, session_epoch=0, created_at=now, updated_at=now)
                )
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

    def update_user(self, name: str, now: datetime, **values: str) -> None:
        """Change the role or password hash; sessions signed before stop counting."""
        stmt = (
            update(users)
            .where(users.c.name == name)
            .values(**values, updated_at=now, session_epoch=users.c.session_epoch + 1)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFound(f"no user {name!r}")

    def remove_user(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(delete(users).where(users.c.name == name)).rowcount == 0:
                raise NotFound(f"no user {name!r}")

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
        except IntegrityError as exc:
            raise Conflict(f"a token named {name!r} exists") from exc
        key = result.inserted_primary_key
        assert key is not None
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

    def revoke_token(self, name: str, now: datetime) -> None:
        stmt = (
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFound(f"no active token {name!r}")

    def touch_token(self, token_id: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
            )
