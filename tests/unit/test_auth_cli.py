"""``beatkeeper users`` and ``beatkeeper tokens``: passwords from standard input (never the
command line), a token printed once, bad input exits 2 naming the field."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from jobs.store.db import make_engine
from jobs.store.tables import api_tokens
from tests.conftest import settings_env
from webapp.auth.accounts import Accounts
from webapp.cli import main


@pytest.fixture
def cli(free_sqlite_url: str) -> CliRunner:
    runner = CliRunner(
        env=settings_env("bk-auth-cli", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    )
    runner.database_url = free_sqlite_url  # type: ignore[attr-defined]  # read by the tests
    return runner


def run(cli: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return cli.invoke(main, list(args), input=stdin)


def test_users_are_added_listed_changed_and_removed_with_the_password_from_stdin(
    cli: CliRunner,
) -> None:
    added = run(cli, "users", "add", "ada", "--role", "operator", stdin="a long password\n")
    assert added.exit_code == 0, added.output
    assert "a long password" not in added.output
    accounts = Accounts(make_engine(cli.database_url))  # type: ignore[attr-defined]
    assert accounts.login("ada", "a long password") is not None
    assert run(cli, "users", "list").stdout.split()[:2] == ["ada", "operator"]
    assert run(cli, "users", "set-role", "ada", "admin").exit_code == 0
    changed = run(cli, "users", "set-password", "ada", stdin="another long one\n")
    assert changed.exit_code == 0, changed.output
    assert accounts.login("ada", "another long one") is not None
    assert accounts.login("ada", "a long password") is None
    assert run(cli, "users", "remove", "ada").exit_code == 0
    assert run(cli, "users", "list").stdout == ""


def test_bad_user_input_exits_2_naming_the_field_and_a_missing_user_exits_1(
    cli: CliRunner,
) -> None:
    short = run(cli, "users", "add", "bob", "--role", "viewer", stdin="short\n")
    assert short.exit_code == 2 and "password" in short.output
    role = run(cli, "users", "add", "bob", "--role", "root", stdin="a long password\n")
    assert role.exit_code == 2 and "role" in role.output
    assert run(cli, "users", "list").stdout == ""
    assert run(cli, "users", "remove", "nobody").exit_code == 1
    assert run(cli, "users", "set-password", "nobody", stdin="a long password\n").exit_code == 1
    run(cli, "users", "add", "bob", "--role", "viewer", stdin="a long password\n")
    taken = run(cli, "users", "add", "bob", "--role", "viewer", stdin="a long password\n")
    assert taken.exit_code == 1 and "exists" in taken.output


def test_a_token_is_printed_once_stored_hashed_listed_and_revoked(cli: CliRunner) -> None:
    created = run(cli, "tokens", "create", "prometheus", "--scope", "read", "--expires", "90d")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("bk_")
    engine = make_engine(cli.database_url)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalar_one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    listing = run(cli, "tokens", "list").stdout
    assert "prometheus" in listing and "read" in listing and secret not in listing
    assert "active" in listing
    assert run(cli, "tokens", "revoke", "prometheus").exit_code == 0
    assert "revoked" in run(cli, "tokens", "list").stdout
    assert Accounts(engine).token_principal(secret) is None
    assert run(cli, "tokens", "revoke", "prometheus").exit_code == 1


def test_bad_token_input_exits_2_naming_the_field(cli: CliRunner) -> None:
    scope = run(cli, "tokens", "create", "x", "--scope", "everything")
    assert scope.exit_code == 2 and "scope" in scope.output
    expires = run(cli, "tokens", "create", "x", "--scope", "read", "--expires", "soon")
    assert expires.exit_code == 2 and "expires" in expires.output
    assert run(cli, "tokens", "list").stdout == ""
