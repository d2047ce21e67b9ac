from __future__ import annotations

import pytest

from broker.management import ManagementClient
from broker.settings import BrokerSettings, UnsafeSettingsError
from jobs.factory import celery_config
from jobs.settings import JobsSettings
from webapp.settings import WebSettings

PRODUCTION = {
    "BEATKEEPER_ENV": "production",
    "BEATKEEPER_BROKER_URL": "amqp://bk:s3cret@rabbit:5672/beatkeeper",
    "BEATKEEPER_RABBITMQ_MANAGEMENT_URL": "http://bk:s3cret@rabbit:15672",
    "DATABASE_URL": "postgresql://bk@db/bk",
    "BEATKEEPER_SECRET_KEY": "x" * 40,
}


def test_local_defaults_need_no_environment_at_all() -> None:
    settings = WebSettings.from_env({})
    assert settings.jobs.broker.url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.jobs.database_url == "sqlite:///var/beatkeeper.db"
    assert settings.jobs.broker.queues == ("default", "slow")
    assert settings.rabbitmq_console_url == "http://127.0.0.1:15672/"


def test_a_fully_configured_production_environment_is_accepted() -> None:
    settings = WebSettings.from_env(PRODUCTION)
    assert settings.jobs.broker.environment == "production"


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("BEATKEEPER_BROKER_URL", "BEATKEEPER_BROKER_URL"),
        ("BEATKEEPER_RABBITMQ_MANAGEMENT_URL", "BEATKEEPER_RABBITMQ_MANAGEMENT_URL"),
        ("DATABASE_URL", "DATABASE_URL"),
        ("BEATKEEPER_SECRET_KEY", "BEATKEEPER_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_with_a_default_secret_or_account(
    missing: str, named: str
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(UnsafeSettingsError, match=named):
        WebSettings.from_env(env)


def test_a_short_secret_key_is_refused_outside_development() -> None:
    with pytest.raises(UnsafeSettingsError, match="32 characters"):
        WebSettings.from_env({**PRODUCTION, "BEATKEEPER_SECRET_KEY": "short"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BEATKEEPER_RETRY_MAX_RETRIES", "many", "BEATKEEPER_RETRY_MAX_RETRIES: .*integer"),
        ("BEATKEEPER_RETRY_JITTER", "maybe", "BEATKEEPER_RETRY_JITTER: .*boolean"),
        ("BEATKEEPER_BROKER_CONNECT_TIMEOUT", "0", "BEATKEEPER_BROKER_CONNECT_TIMEOUT"),
        ("BEATKEEPER_FLOWER_BASIC_AUTH", "admin", "BEATKEEPER_FLOWER_BASIC_AUTH"),
        ("BEATKEEPER_DELIVERY_LIMIT", "0", "BEATKEEPER_DELIVERY_LIMIT must be at least 1"),
        ("BEATKEEPER_DEFAULT_QUEUE", "nope", "BEATKEEPER_DEFAULT_QUEUE='nope'"),
        ("BEATKEEPER_QUEUE_PREFIX", "a#b", "BEATKEEPER_QUEUE_PREFIX"),
        ("BEATKEEPER_RETRY_BACKOFF_BASE", "0", "backoff_base"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_the_variable(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        JobsSettings.from_env({key: value})


@pytest.mark.parametrize(
    "url", ["hooks.example.com/x", "ftp://hooks.example.com/x", "http:///x", "http://h:port/x"]
)
def test_a_webhook_url_that_is_not_an_http_url_with_a_host_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValueError, match="BEATKEEPER_HEALTH_WEBHOOK_URL: must be an absolute"):
        WebSettings.from_env({"BEATKEEPER_HEALTH_WEBHOOK_URL": url})


def test_an_empty_webhook_url_means_none_and_a_private_address_is_accepted() -> None:
    assert WebSettings.from_env({"BEATKEEPER_HEALTH_WEBHOOK_URL": " "}).health_webhook_url is None
    private = "http://10.0.0.7:9093/hooks/beatkeeper"
    found = WebSettings.from_env({"BEATKEEPER_HEALTH_WEBHOOK_URL": private})
    assert found.health_webhook_url == private


def test_retry_defaults_come_from_the_environment() -> None:
    settings = JobsSettings.from_env(
        {"BEATKEEPER_RETRY_MAX_RETRIES": "7", "BEATKEEPER_RETRY_BACKOFF_BASE": "3"}
    )
    assert (settings.default_policy.max_retries, settings.default_policy.backoff_base) == (7, 3)


def test_queue_list_is_read_from_a_comma_separated_variable() -> None:
    assert BrokerSettings.from_env({"BEATKEEPER_QUEUES": "a, b ,c"}).queues == ("a", "b", "c")


def test_a_bad_value_never_echoes_the_credentials_of_the_other_variables() -> None:
    with pytest.raises(ValueError) as caught:
        JobsSettings.from_env({**PRODUCTION, "BEATKEEPER_DELIVERY_LIMIT": "0"})
    assert "s3cret" not in str(caught.value)


def test_constructing_settings_reads_nothing_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEATKEEPER_QUEUE_PREFIX", "from-the-environment")
    assert BrokerSettings().prefix == "beatkeeper"
    assert BrokerSettings.from_env().prefix == "from-the-environment"


def test_the_console_url_is_read_once_and_defaults_to_the_management_url_without_credentials() -> (
    None
):
    configured = WebSettings.from_env(
        {**PRODUCTION, "BEATKEEPER_RABBITMQ_CONSOLE_URL": "https://rabbit.example/"}
    )
    assert configured.rabbitmq_console_url == "https://rabbit.example/"
    assert WebSettings.from_env(PRODUCTION).rabbitmq_console_url == "http://rabbit:15672/"


def test_the_flower_link_follows_the_flower_port_unless_a_url_is_given() -> None:
    assert JobsSettings.from_env({"BEATKEEPER_FLOWER_PORT": "5601"}).flower_url == (
        "http://127.0.0.1:5601"
    )
    on_all_interfaces = {"BEATKEEPER_FLOWER_ADDRESS": "0.0.0.0", "BEATKEEPER_FLOWER_PORT": "5601"}
    assert JobsSettings.from_env(on_all_interfaces).flower_url == "http://127.0.0.1:5601"
    given = {"BEATKEEPER_FLOWER_PORT": "5601", "BEATKEEPER_FLOWER_URL": "https://flower.example/"}
    assert JobsSettings.from_env(given).flower_url == "https://flower.example"


def test_the_broker_connect_timeout_reaches_celery() -> None:
    settings = JobsSettings.from_env({"BEATKEEPER_BROKER_CONNECT_TIMEOUT": "1.5"})
    assert settings.broker.connect_timeout == 1.5
    from broker.topology import describe

    config = celery_config(settings, describe(settings.broker))
    assert config["broker_connection_timeout"] == 1.5


@pytest.mark.parametrize(
    ("url", "vhost"),
    [
        ("amqp://bk:pw@rabbitmq:5672/beatkeeper", "beatkeeper"),
        ("amqp://guest:guest@127.0.0.1:5672//", "/"),
        ("amqp://guest:guest@127.0.0.1:5672", "/"),
        ("amqp://bk:pw@rabbitmq:5672/team%2Fa", "team/a"),
    ],
)
def test_the_management_client_reads_the_vhost_the_broker_url_names(url: str, vhost: str) -> None:
    client = ManagementClient.for_broker(BrokerSettings(url=url))
    try:
        assert client.vhost == vhost
    finally:
        client.close()


def test_the_job_modules_are_read_from_a_comma_separated_variable() -> None:
    settings = JobsSettings.from_env(
        {"BEATKEEPER_JOB_MODULES": "jobs.examples, tests.support.testjobs"}
    )
    assert settings.job_modules == ("jobs.examples", "tests.support.testjobs")


@pytest.mark.parametrize("password", ["admin", "short-pass", "changeme"])
def test_a_short_or_default_flower_password_is_refused_outside_development(
    password: str,
) -> None:
    env = {**PRODUCTION, "BEATKEEPER_FLOWER_BASIC_AUTH": f"ops:{password}"}
    with pytest.raises(UnsafeSettingsError, match=r"BEATKEEPER_FLOWER_BASIC_AUTH.*ops"):
        WebSettings.from_env(env)
    local = {"BEATKEEPER_ENV": "development", "BEATKEEPER_FLOWER_BASIC_AUTH": f"ops:{password}"}
    assert JobsSettings.from_env(local).flower.basic_auth == (f"ops:{password}",)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_development_refuses_to_serve_the_web_app_beyond_loopback(host: str) -> None:
    with pytest.raises(UnsafeSettingsError, match=r"BEATKEEPER_WEB_HOST=.*127\.0\.0\.1"):
        WebSettings.from_env({"BEATKEEPER_WEB_HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_development_serves_the_web_app_on_loopback(host: str) -> None:
    assert WebSettings.from_env({"BEATKEEPER_WEB_HOST": host}).host == host


def test_production_may_serve_the_web_app_on_every_interface() -> None:
    assert WebSettings.from_env({**PRODUCTION, "BEATKEEPER_WEB_HOST": "0.0.0.0"}).host == "0.0.0.0"
