"""Web settings (pydantic-settings), read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from broker.management import public_url
from broker.settings import EnvSettings, comma_separated, is_loopback
from jobs.settings import JobsSettings
from webapp.ratelimits import check_rule

DEV_SECRET_KEY = "beatkeeper-development-only-secret"
TEST_SERVER = "http://testserver"


def check_webhook_url(value: str | None) -> str | None:
    """A settings validator: unset/empty, or an absolute http(s) URL with a host (else every
    delivery would fail until someone read the delivery history)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an absolute http:// or https:// URL with a host, "
            "such as https://hooks.example.com/beatkeeper"
        )
    return value


class WebSettings(EnvSettings):
    """The web front ends' settings, on top of the job platform's."""

    jobs: JobsSettings = JobsSettings()
    secret_key: str = Field(default=DEV_SECRET_KEY, validation_alias="BEATKEEPER_SECRET_KEY")
    # None: the management URL without its credentials.
    console_url: str | None = Field(
        default=None, validation_alias="BEATKEEPER_RABBITMQ_CONSOLE_URL"
    )
    host: str = Field(default="127.0.0.1", validation_alias="BEATKEEPER_WEB_HOST")
    port: int = Field(default=8000, validation_alias="BEATKEEPER_WEB_PORT")
    # uvicorn processes, each with its own app from the factory (SQLite in WAL mode with a
    # busy timeout takes writers from several processes; the outbox is per worker process).
    web_workers: int = Field(default=1, ge=1, validation_alias="BEATKEEPER_WEB_WORKERS")
    # Celery worker instances `beatkeeper up` starts (node names <prefix>@<host>-<n>), each
    # with BEATKEEPER_WORKER_CONCURRENCY prefork processes; compose uses it as replicas.
    worker_instances: int = Field(
        default=1, ge=1, le=32, validation_alias="BEATKEEPER_WORKER_INSTANCES"
    )
    # The live pages' change feed (jobs/monitoring/changes.py): seconds between reads of the
    # run store, and how far each read looks back for rows committed after the time they
    # carry (the whole 5 s look-back runs once a second).
    live_poll_interval: float = Field(
        default=0.05, gt=0, le=10, validation_alias="BEATKEEPER_LIVE_POLL_INTERVAL"
    )
    live_lookback: float = Field(
        default=0.25, ge=0, le=5, validation_alias="BEATKEEPER_LIVE_LOOKBACK"
    )
    # POSTed a JSON body whenever a schedule's health state changes (jobs/monitoring/notify.py).
    # Any http(s) address, private ones included: the operator sets it, not a user.
    health_webhook_url: str | None = Field(
        default=None, validation_alias="BEATKEEPER_HEALTH_WEBHOOK_URL"
    )
    _webhook = field_validator("health_webhook_url")(check_webhook_url)
    # Where people reach the web app (scheme://host[:port][/path]); every URL the app builds
    # and the API's same-origin check use it, never the request's Host header.
    # Unset: http://127.0.0.1:<port> in development; required elsewhere.
    public_url: str | None = Field(default=None, validation_alias="BEATKEEPER_PUBLIC_URL")
    # Host names the app answers to (comma-separated; "*.example.com" for subdomains).
    # Unset: loopback names plus the public URL's host.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="BEATKEEPER_ALLOWED_HOSTS"
    )
    # The largest request body (API and UI); larger ones are a 413, refused while streaming.
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, validation_alias="BEATKEEPER_MAX_BODY_BYTES"
    )

    # Per principal (user or token, else client address): webapp/ratelimits.py.
    rate_limit_enqueue: str = Field(
        default="600/minute", validation_alias="BEATKEEPER_RATE_LIMIT_ENQUEUE"
    )
    rate_limit_schedules: str = Field(
        default="120/minute", validation_alias="BEATKEEPER_RATE_LIMIT_SCHEDULES"
    )
    rate_limit_storage: str = Field(
        default="memory://", validation_alias="BEATKEEPER_RATE_LIMIT_STORAGE"
    )

    _rates = field_validator("rate_limit_enqueue", "rate_limit_schedules")(check_rule)
    _split_hosts = field_validator("allowed_hosts", mode="before")(comma_separated)
    # None: on outside development, off in development (loopback only). Tests turn it on.
    auth: bool | None = Field(default=None, validation_alias="BEATKEEPER_AUTH")
    # Failed logins per minute, per user name and per client address, before a 429.
    login_failures_per_minute: int = Field(
        default=5, ge=1, validation_alias="BEATKEEPER_LOGIN_FAILURES_PER_MINUTE"
    )
    session_hours: float = Field(default=12.0, gt=0, validation_alias="BEATKEEPER_SESSION_HOURS")

    @classmethod
    def nested_from_env(cls, env: Mapping[str, str] | None) -> dict[str, Any]:
        return {"jobs": JobsSettings.from_env(env, check=False)}

    def refusals(self) -> list[str]:
        found = []
        environment = f"BEATKEEPER_ENV={self.jobs.broker.environment!r}"
        if not self.jobs.broker.is_local and self.secret_key == DEV_SECRET_KEY:
            found.append(
                "BEATKEEPER_SECRET_KEY is unset (the development default) while "
                f"{environment}; set a long random value"
            )
        elif not self.jobs.broker.is_local and len(self.secret_key) < 32:
            found.append("BEATKEEPER_SECRET_KEY must be at least 32 characters")
        if refusal := self.bind_refusal(self.host):
            found.append(refusal)
        if not self.jobs.broker.is_local and self.auth is False:
            found.append(
                "BEATKEEPER_AUTH=false is only allowed in development: outside it every page "
                "and route requires credentials"
            )
        return found

    def cautions(self) -> list[str]:
        if self.jobs.broker.is_local or self.public_url:
            return []
        return [
            "BEATKEEPER_PUBLIC_URL is unset outside development: every Host header is "
            "answered and links use http://127.0.0.1; set it (and BEATKEEPER_ALLOWED_HOSTS)"
        ]

    def bind_refusal(self, host: str, option: str = "BEATKEEPER_WEB_HOST") -> str | None:
        """Why the web app must not listen on ``host``, or None.

        In development nothing asks for credentials, so only this machine may connect.
        """
        if self.jobs.broker.is_local and not is_loopback(host):
            return (
                f"{option}={host!r} would open the development web app (no login) to other "
                f"machines while BEATKEEPER_ENV={self.jobs.broker.environment!r}; listen on "
                "127.0.0.1, or set BEATKEEPER_ENV=production (with its required secrets)"
            )
        return None

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash (see ``public_url``)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.jobs.broker.environment == "test":
            return TEST_SERVER  # Starlette's TestClient
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """An absolute URL of ``path`` (which starts with /) for people and API clients."""
        return f"{self.base_url}{path}"

    @property
    def hosts(self) -> tuple[str, ...]:
        """The Host names served: the configured ones, else loopback and the public host."""
        if self.allowed_hosts:
            return self.allowed_hosts
        if not self.jobs.broker.is_local and not self.public_url:
            return ("*",)  # see cautions(): refusing every host would stop the service
        public = urlsplit(self.base_url).hostname or "127.0.0.1"
        return tuple(dict.fromkeys(("127.0.0.1", "localhost", "[::1]", public)))

    @property
    def auth_required(self) -> bool:
        """Whether every page and route asks for credentials (always outside development)."""
        return self.auth if self.auth is not None else not self.jobs.broker.is_local

    @property
    def secure_cookies(self) -> bool:
        """Session cookies only over HTTPS, except in local development."""
        return not self.jobs.broker.is_local

    @property
    def flower_url(self) -> str:
        return self.jobs.flower.url

    @property
    def rabbitmq_console_url(self) -> str:
        """The RabbitMQ console a person can open (never with the management credentials)."""
        return self.console_url or public_url(self.jobs.broker.management_url)
