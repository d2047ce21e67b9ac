"""Secrets, hashed: argon2id for passwords (slow on purpose), SHA-256 for API tokens (a
256-bit random token cannot be guessed, so a fast hash is enough and lookups stay cheap)."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "bk_"
# argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes).
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified when the user does not exist, so a wrong name costs as long as a wrong password.
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A bearer token: the prefix (so scanners can spot leaked ones) and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
