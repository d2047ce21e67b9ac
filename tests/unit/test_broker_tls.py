"""TLS to RabbitMQ: settings turn into kombu's ``broker_use_ssl`` and py-amqp's ``ssl``."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from broker.settings import BrokerSettings, SettingsError
from broker.topology import describe
from jobs.factory import celery_config
from jobs.settings import JobsSettings


def _files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name in ("ca", "cert", "key"):
        path = tmp_path / f"{name}.pem"
        path.write_text("not checked here: only the paths are passed on\n")
        paths[f"BEATKEEPER_BROKER_SSL_{name.upper()}"] = str(path)
    return paths


def test_plain_amqp_by_default() -> None:
    settings = JobsSettings.from_env({})
    assert settings.broker.ssl_options is None
    assert settings.broker.default_port == 5672
    assert celery_config(settings, describe(settings.broker))["broker_use_ssl"] is False


def test_an_amqps_url_turns_tls_on_with_the_servers_certificate_verified() -> None:
    broker = BrokerSettings.from_env({"BEATKEEPER_BROKER_URL": "amqps://u:p@mq.example/v"})
    assert broker.ssl_options == {"cert_reqs": ssl.CERT_REQUIRED}
    assert broker.default_port == 5671


def test_ca_and_client_certificate_files_reach_the_celery_app(tmp_path: Path) -> None:
    env = {"BEATKEEPER_BROKER_URL": "amqp://u:p@mq.example:5671/v", **_files(tmp_path)}
    settings = JobsSettings.from_env(env)
    expected = {
        "cert_reqs": ssl.CERT_REQUIRED,
        "ca_certs": str(tmp_path / "ca.pem"),
        "certfile": str(tmp_path / "cert.pem"),
        "keyfile": str(tmp_path / "key.pem"),
    }
    assert settings.broker.ssl_options == expected
    assert celery_config(settings, describe(settings.broker))["broker_use_ssl"] == expected


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BEATKEEPER_BROKER_SSL_CA": "/nonexistent/ca.pem"}, "BEATKEEPER_BROKER_SSL_CA"),
        ({"BEATKEEPER_BROKER_USE_SSL": "maybe"}, "BEATKEEPER_BROKER_USE_SSL"),
        (
            {"BEATKEEPER_BROKER_USE_SSL": "false", "BEATKEEPER_BROKER_URL": "amqps://u:p@h/v"},
            "BEATKEEPER_BROKER_USE_SSL=false",
        ),
    ],
    ids=["missing-file", "not-a-boolean", "contradiction"],
)
def test_unusable_tls_settings_are_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        BrokerSettings.from_env(env)


def test_a_client_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    files = _files(tmp_path)
    env = {"BEATKEEPER_BROKER_SSL_CERT": files["BEATKEEPER_BROKER_SSL_CERT"]}
    with pytest.raises(SettingsError, match="BEATKEEPER_BROKER_SSL_KEY"):
        BrokerSettings.from_env(env)
