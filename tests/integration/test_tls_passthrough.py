"""TLS settings reach the wire: a TLS client on RabbitMQ's plain port fails its handshake,
and ``sslmode`` in DATABASE_URL reaches libpq."""

from __future__ import annotations

import ssl

import pytest
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from broker.publisher import ConfirmingPublisher
from jobs.factory import create_celery_app
from jobs.registry import JobRegistry
from jobs.settings import JobsSettings
from jobs.store import make_engine
from tests.conftest import POSTGRES_URL, unavailable

pytestmark = pytest.mark.integration

TLS = {"cert_reqs": ssl.CERT_REQUIRED}


def test_the_publisher_speaks_tls_when_given_tls_options(rabbitmq_url: str) -> None:
    # 5672 is plain AMQP: a TLS client's handshake fails there instead of sending in clear.
    publisher = ConfirmingPublisher(rabbitmq_url, ssl=TLS, connect_timeout=3.0)
    with pytest.raises((ssl.SSLError, OSError)):
        publisher._connect()


def test_the_celery_app_connects_with_tls_when_the_settings_ask(
    rabbitmq_url: str, free_sqlite_url: str
) -> None:
    env = {
        "BEATKEEPER_BROKER_URL": rabbitmq_url,
        "BEATKEEPER_BROKER_USE_SSL": "true",
        "DATABASE_URL": free_sqlite_url,
    }
    app = create_celery_app(JobsSettings.from_env(env), JobRegistry())
    with app.connection_for_write() as conn:
        assert conn.ssl == TLS
        with pytest.raises(KombuOperationalError, match="SSL"):
            conn.ensure_connection(max_retries=1, timeout=3)


def _ssl_in_use(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = "select ssl from pg_stat_ssl where pid = pg_backend_pid()"
            return bool(conn.execute(text(query)).scalar())
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sslmode_in_database_url_reaches_postgresql() -> None:
    base = make_url(POSTGRES_URL)

    def with_mode(mode: str) -> str:
        return base.update_query_dict({"sslmode": mode}).render_as_string(hide_password=False)

    try:
        plain = _ssl_in_use(with_mode("disable"))
    except OperationalError as exc:
        unavailable(f"PostgreSQL not reachable at {base!r}: {exc}")
    assert plain is False
    try:
        assert _ssl_in_use(with_mode("require")) is True
    except OperationalError as exc:  # a server without TLS refuses what libpq was told
        assert "SSL" in str(exc)
