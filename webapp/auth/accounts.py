"""Users and API tokens: what the CLI and the admin page call, and how a request's
credentials become a :class:`Principal`.

Every change names who makes it, ``by`` (``Principal.actor()`` of the caller), for the audit
log that ``jobs/store/identity.py`` writes in the change's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from jobs.errors import Invalid
from jobs.store.identity import IdentityStore, TokenRow, UserRow
from webapp.auth.credentials import hash_password, new_token, token_hash, verify_password
from webapp.auth.permissions import Role, Scope
from webapp.auth.principal import Principal

MIN_PASSWORD = 12
NAME_MAX = 200
# last_used_at is written at most this often per token (not a write per request).
TOUCH_EVERY = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def parse_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(Role)
        raise Invalid([{"field": field, "message": f"{value!r} is not one of {allowed}"}]) from None


def parse_scopes(values: Iterable[str], field: str = "scope") -> tuple[Scope, ...]:
    words = [w for v in values for w in v.replace(",", " ").split()]
    bad = [w for w in words if w not in set(Scope)]
    if bad or not words:
        allowed = ", ".join(Scope)
        message = f"{', '.join(bad)} not among {allowed}" if bad else f"name one of {allowed}"
        raise Invalid([{"field": field, "message": message}])
    return tuple(Scope(w) for w in dict.fromkeys(words))


def check_name(name: str, field: str = "name") -> str:
    if not name or len(name) > NAME_MAX or name != name.strip() or not name.isprintable():
        raise Invalid(
            [{"field": field, "message": f"1-{NAME_MAX} printable characters, no outer spaces"}]
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid([{"field": "password", "message": f"at least {MIN_PASSWORD} characters"}])
    return password


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``secret`` is shown once and never stored."""

    row: TokenRow
    secret: str


class Accounts:
    """Users (argon2 passwords, roles) and API tokens (SHA-256, scopes, expiry)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _now) -> None:
        self.store = IdentityStore(engine)
        self.clock = clock

    # users
    def add_user(self, name: str, role: str, password: str, *, by: str) -> None:
        check_name(name)
        role_ = parse_role(role)
        hashed = hash_password(check_password(password))
        self.store.add_user(name, role_, hashed, self.clock(), by)

    def users(self) -> list[UserRow]:
        return self.store.users()

    def set_role(self, name: str, role: str, *, by: str) -> None:
        role_ = parse_role(role)
        self.store.update_user(name, self.clock(), by=by, action="set_role", role=role_)

    def set_password(self, name: str, password: str, *, by: str) -> None:
        hashed = hash_password(check_password(password))
        self.store.update_user(
            name, self.clock(), by=by, action="set_password", password_hash=hashed
        )

    def remove_user(self, name: str, *, by: str) -> None:
        self.store.remove_user(name, self.clock(), by)

    def login(self, name: str, password: str) -> UserRow | None:
        """The user if the password is theirs; None otherwise (in the same time either way)."""
        user = self.store.user(name)
        ok = verify_password(user.password_hash if user else None, password)
        return user if ok else None

    def session_principal(self, name: str, epoch: int) -> Principal | None:
        """The user a session cookie names, if it still counts (same epoch, user exists)."""
        user = self.store.user(name)
        if user is None or user.session_epoch != epoch:
            return None
        role = Role(user.role)
        return Principal(name=user.name, role=role, scopes=frozenset())

    # tokens
    def create_token(
        self,
        name: str,
        scopes: Iterable[str],
        created_by: str,
        expires_in: timedelta | None = None,
    ) -> IssuedToken:
        check_name(name)
        chosen = parse_scopes(scopes)
        if expires_in is not None and expires_in <= timedelta(0):
            raise Invalid([{"field": "expires", "message": "must be in the future"}])
        secret = new_token()
        now = self.clock()
        expires_at = now + expires_in if expires_in is not None else None
        token_id = self.store.add_token(
            name, token_hash(secret), secret[:10], chosen, created_by, now, expires_at
        )
        row = TokenRow(
            token_id, name, token_hash(secret), secret[:10], chosen, created_by, now,
            expires_at, None, None,
        )  # fmt: skip
        return IssuedToken(row, secret)

    def tokens(self) -> list[TokenRow]:
        return self.store.tokens()

    def revoke_token(self, name: str, *, by: str) -> None:
        self.store.revoke_token(name, self.clock(), by)

    def token_principal(self, secret: str) -> Principal | None:
        """The token's principal, or None if unknown, revoked or expired."""
        row = self.store.token_by_hash(token_hash(secret))
        now = self.clock()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            self.store.touch_token(row.id, now)
        scopes = frozenset(Scope(s) for s in row.scopes)
        return Principal(name=f"token:{row.name}", role=None, scopes=scopes, token_id=row.id)
