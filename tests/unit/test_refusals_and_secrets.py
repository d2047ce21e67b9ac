"""Production refusals list every problem at once, clearly; no message shows a password."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from broker import redact
from broker.settings import BrokerSettings, UnsafeSettingsError
from jobs.settings import JobsSettings
from tests.unit.test_settings import PRODUCTION
from webapp.cli import main
from webapp.settings import WebSettings

SECRET = "s3cretPassw0rd"


def test_every_production_problem_is_reported_at_once() -> None:
    env = {
        "BEATKEEPER_ENV": "production",
        "BEATKEEPER_BROKER_URL": "amqp://bk:@rabbit:5672/bk",  # empty password
        "BEATKEEPER_FLOWER_BASIC_AUTH": "ops:short",
        "DATABASE_URL": "sqlite:///relative.db",
    }
    with pytest.raises(UnsafeSettingsError) as refused:
        WebSettings.from_env(env)
    text = str(refused.value)
    for named in (
        "BEATKEEPER_BROKER_URL",
        "BEATKEEPER_RABBITMQ_MANAGEMENT_URL",
        "BEATKEEPER_FLOWER_BASIC_AUTH",
        "DATABASE_URL",
        "BEATKEEPER_SECRET_KEY",
    ):
        assert named in text
    assert text.startswith("refusing to start, 5 problems:")


def test_an_empty_broker_password_is_refused_outside_development() -> None:
    with pytest.raises(UnsafeSettingsError, match="empty password"):
        BrokerSettings.from_env({**PRODUCTION, "BEATKEEPER_BROKER_URL": "amqp://bk:@rabbit//"})


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///var/other.db"])
def test_an_in_memory_or_relative_sqlite_url_is_refused_in_production(url: str) -> None:
    with pytest.raises(UnsafeSettingsError, match="DATABASE_URL"):
        JobsSettings.from_env({**PRODUCTION, "DATABASE_URL": url})


def test_an_absolute_sqlite_file_in_production_starts_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        JobsSettings.from_env({**PRODUCTION, "DATABASE_URL": "sqlite:////srv/bk/bk.db"})
    assert "one host" in caplog.text


def test_python_m_broker_prints_the_refusal_not_a_traceback() -> None:
    env = {**os.environ, "BEATKEEPER_ENV": "production", "PYTHONWARNINGS": "ignore"}
    env["BEATKEEPER_BROKER_URL"] = f"amqp://guest:{SECRET}@rabbit//"
    done = subprocess.run(
        [sys.executable, "-m", "broker", "declare"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "BEATKEEPER_BROKER_URL" in done.stderr and "guest" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_python_m_broker_declare_masks_the_password_of_an_unreachable_broker() -> None:
    env = {**os.environ, "BEATKEEPER_BROKER_URL": f"amqp://bk:{SECRET}@127.0.0.1:1//"}
    env["BEATKEEPER_BROKER_CONNECT_TIMEOUT"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "broker", "declare"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "unreachable" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert "amqp://bk:**@127.0.0.1:1" in done.stderr


def test_beatkeeper_up_masks_the_password_of_an_unreachable_broker() -> None:
    env = {"BEATKEEPER_BROKER_URL": f"amqp://bk:{SECRET}@broker.invalid:5672//"}
    result = CliRunner(env=env).invoke(main, ["up"])
    assert result.exit_code == 1
    assert "not reachable" in result.output
    assert SECRET not in result.output


def test_redaction_masks_every_url_in_a_sentence() -> None:
    sentence = f"amqp://bk:{SECRET}@a//, then postgresql://u:{SECRET}@db/x failed"
    assert SECRET not in redact.text(sentence)
    assert redact.url(f"amqp://bk:{SECRET}@a//") == "amqp://bk:**@a//"
    assert redact.text("no url here: a:b@c") == "no url here: a:b@c"
