"""Helpers shared by the ``beatkeeper`` commands, and errors to exit codes, once."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from broker import redact
from jobs.errors import BeatkeeperError, Invalid
from jobs.registry import UnknownJobError
from jobs.store.db import STORE_OUTAGES

# Input that does not fit exits 2 (click's own usage errors do too); a job named on the
# command line that does not exist is such input. Anything else refused exits 1.
EXIT_CODES: tuple[tuple[type[BeatkeeperError], int], ...] = (
    (Invalid, 2),
    (UnknownJobError, 2),
    (BeatkeeperError, 1),
)


def exit_code(exc: BeatkeeperError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))


def report(exc: BeatkeeperError) -> NoReturn:
    """One ``error: FIELD: MESSAGE`` line per field (or ``error: DETAIL``), then exit."""
    if exc.errors:
        for error in exc.errors:
            click.echo(f"error: {error['field']}: {redact.text(error['message'])}", err=True)
    else:
        click.echo(f"error: {redact.text(exc.detail)}", err=True)
    sys.exit(exit_code(exc))


class Commands(click.Group):
    """A command group whose commands raise ``BeatkeeperError``s; they are reported here,
    and so is a store that cannot be reached (one line and exit 1, not a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BeatkeeperError as exc:
            report(exc)
        except STORE_OUTAGES as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            _fail(f"the run store is unavailable ({type(exc).__name__}): {cause}")


if TYPE_CHECKING:
    from jobs.settings import JobsSettings
    from webapp.settings import WebSettings


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {redact.text(message)}", err=True)
    sys.exit(code)


def _web_settings() -> WebSettings:
    """The environment, read once for the command; bad values exit 2 naming the variable."""
    from webapp.settings import WebSettings

    try:
        return WebSettings.from_env()
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc), 2)


def _jobs_settings() -> JobsSettings:
    return _web_settings().jobs


def cli_actor(claimed: str | None = None) -> str:
    """Who the audit log records for a change made from this command line (``cli:<OS user>``);
    a name given with ``--by`` is only a note beside it."""
    from webapp.auth.principal import cli_principal

    return cli_principal().actor(claimed)
