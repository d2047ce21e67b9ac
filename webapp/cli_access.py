"""``beatkeeper users ...`` and ``beatkeeper tokens ...``: who may sign in, which API tokens
exist. Passwords are read from a prompt (twice) or, when standard input is not a terminal,
from its first line; never from the command line, where other users and the shell history
would see them. A new token is printed once on standard output and only its hash is kept.

Exit codes (``webapp/cli_common.py``): 2 for input that does not fit (a role or scope that
does not exist, a short password), 1 for an unknown user or token or a name already taken.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from jobs.errors import Invalid, NotFound
from webapp.cli_common import Commands, _jobs_settings, cli_actor

if TYPE_CHECKING:  # imported lazily at run time: `beatkeeper --help` stays fast
    from webapp.auth.accounts import Accounts

DURATION = re.compile(r"^(\d{1,5})([dhm])$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _accounts() -> Accounts:
    from jobs.store.db import make_engine
    from jobs.store.migrate import upgrade
    from webapp.auth.accounts import Accounts

    url = _jobs_settings().database_url
    upgrade(url)  # the users table must exist for the first `users add`
    return Accounts(make_engine(url))


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def parse_duration(value: str) -> timedelta:
    """``30d``, ``12h`` or ``90m``."""
    found = DURATION.match(value.strip())
    if not found or int(found.group(1)) == 0:
        raise Invalid([{"field": "expires", "message": "a duration such as 30d, 12h or 90m"}])
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


@click.group(cls=Commands)
def users() -> None:
    """People who sign in to the UI: add, list, set-role, set-password, remove."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help="viewer, operator or admin")
def users_add(name: str, role: str) -> None:
    """Add user NAME; the password comes from a prompt or standard input."""
    accounts = _accounts()
    accounts.add_user(name, role, _password(), by=cli_actor())
    click.echo(f"added user {name} ({role})")


@users.command("list")
def users_list() -> None:
    """Every user with their role."""
    for user in _accounts().users():
        click.echo(f"{user.name:32} {user.role:9} since {user.created_at:%Y-%m-%d %H:%M}Z")


@users.command("set-role")
@click.argument("name")
@click.argument("role")
def users_set_role(name: str, role: str) -> None:
    """Give NAME another role; their open sessions end."""
    _accounts().set_role(name, role, by=cli_actor())
    click.echo(f"user {name} is now {role}")


@users.command("set-password")
@click.argument("name")
def users_set_password(name: str) -> None:
    """Set NAME's password (prompt or standard input); their open sessions end."""
    accounts = _accounts()
    if accounts.store.user(name) is None:  # before asking for a password
        raise NotFound(f"no user {name!r}")
    accounts.set_password(name, _password(), by=cli_actor())
    click.echo(f"password of {name} changed")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Remove NAME; their open sessions end at their next request."""
    _accounts().remove_user(name, by=cli_actor())
    click.echo(f"removed user {name}")


@click.group(cls=Commands)
def tokens() -> None:
    """API bearer tokens: create, list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="read, enqueue, schedules or admin (repeat, or comma-separate)",
)
@click.option("--expires", default=None, help="lifetime such as 90d, 12h or 30m (default: never)")
def tokens_create(name: str, scopes: tuple[str, ...], expires: str | None) -> None:
    """Create token NAME and print it once (standard output); only its hash is kept."""
    lifetime = parse_duration(expires) if expires else None
    issued = _accounts().create_token(name, scopes, cli_actor(), lifetime)
    until = f"until {issued.row.expires_at:%Y-%m-%d %H:%M}Z" if issued.row.expires_at else ""
    click.echo(
        f"token {name} ({' '.join(issued.row.scopes)}) {until}: shown once, store it now",
        err=True,
    )
    click.echo(issued.secret)


@tokens.command("list")
def tokens_list() -> None:
    """Every token: name, first characters, scopes, expiry, last use, revoked or not."""
    for t in _accounts().tokens():
        state = "revoked" if t.revoked_at else "active"
        expires = f"{t.expires_at:%Y-%m-%d %H:%M}Z" if t.expires_at else "never"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}Z" if t.last_used_at else "never"
        click.echo(
            f"{t.name:24} {t.prefix}… {' '.join(t.scopes):28} expires={expires} used={used} {state}"
        )


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke token NAME: it is refused from the next request on."""
    _accounts().revoke_token(name, by=cli_actor())
    click.echo(f"revoked token {name}")
