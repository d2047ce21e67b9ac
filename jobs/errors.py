"""One exception tree: every error Beatkeeper raises on purpose is a ``BeatkeeperError``.

Four kinds say what went wrong, and each front end maps them once (HTTP status in
``webapp/api/errors.py``, flash and status in ``webapp/ui/errors.py``, exit code in
``webapp/cli_common.py``):

- ``NotFound``: the thing named does not exist (HTTP 404).
- ``Conflict``: it exists already, or its state forbids the change (HTTP 409).
- ``Invalid``: the input is wrong; ``errors`` names every offending field (HTTP 422).
- ``RateLimited``: too many requests from one principal (HTTP 429 with Retry-After).
- ``Unavailable``: a dependency (the broker) refused or did not answer; nothing was
  stored (HTTP 503).

The concrete errors keep their old builtin bases too (``ValueError``, ``LookupError``,
``RuntimeError``), so code that caught those still does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

# {"field": "kwargs.hours", "message": "..."}: the shape the API's ``errors`` list has.
FieldError: TypeAlias = dict[str, str]


def field_errors(errors: Iterable[Mapping[str, str]]) -> list[FieldError]:
    return [{"field": e["field"], "message": e["message"]} for e in errors]


class BeatkeeperError(Exception):
    """Root of the tree. ``detail`` is the sentence a person reads; ``errors`` the fields."""

    def __init__(self, message: str = "", errors: Iterable[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = field_errors(errors)

    @property
    def detail(self) -> str:
        return str(self)


class NotFound(BeatkeeperError, LookupError):
    """The schedule, job or run named does not exist."""


class Conflict(BeatkeeperError):
    """The change collides with what is stored (e.g. a name already taken)."""


class Invalid(BeatkeeperError, ValueError):
    """Input that does not fit; ``errors`` holds one entry per offending field."""

    def __init__(
        self, errors: Iterable[Mapping[str, str]] = (), message: str | None = None
    ) -> None:
        listed = field_errors(errors)
        text = (
            message
            if message is not None
            else "; ".join(f"{e['field']}: {e['message']}" for e in listed)
        )
        super().__init__(text, listed)


class RateLimited(BeatkeeperError):
    """Too many requests of one kind from one principal; try again in ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(BeatkeeperError, RuntimeError):
    """The broker (or another dependency) refused or did not answer; nothing was stored."""
