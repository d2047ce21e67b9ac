"""Typed settings for the job platform (pydantic-settings), read once from the environment.

``JobsSettings.from_env()`` reads every variable the Celery app, the store, the beat and
Flower use; the result hangs on the app (``app.settings``) and is passed from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from sqlalchemy.engine import make_url

from broker.policies import PublishRetryPolicy
from broker.settings import BrokerSettings, EnvSettings
from jobs.policies import RetryPolicy
from jobs.targets import IPNetwork

DEFAULT_DATABASE_URL = "sqlite:///var/beatkeeper.db"
_ALL_INTERFACES = ("", "0.0.0.0", "::")  # compared against, never bound


class RetrySettings(EnvSettings):
    """``BEATKEEPER_RETRY_*``: the default retry policy; its defaults live in jobs.policies."""

    max_retries: int = Field(
        default=RetryPolicy.max_retries, validation_alias="BEATKEEPER_RETRY_MAX_RETRIES"
    )
    backoff_base: int = Field(
        default=RetryPolicy.backoff_base, validation_alias="BEATKEEPER_RETRY_BACKOFF_BASE"
    )
    backoff_cap: int = Field(
        default=RetryPolicy.backoff_cap, validation_alias="BEATKEEPER_RETRY_BACKOFF_CAP"
    )
    jitter: bool = Field(default=RetryPolicy.jitter, validation_alias="BEATKEEPER_RETRY_JITTER")
    time_limit: int = Field(
        default=RetryPolicy.time_limit, validation_alias="BEATKEEPER_TASK_TIME_LIMIT"
    )

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


class PublishSettings(EnvSettings):
    """``BEATKEEPER_PUBLISH_*``: how a producer retries a publish; defaults in broker.policies."""

    max_retries: int = Field(
        default=PublishRetryPolicy.max_retries, validation_alias="BEATKEEPER_PUBLISH_MAX_RETRIES"
    )
    interval_start: float = Field(
        default=PublishRetryPolicy.interval_start,
        validation_alias="BEATKEEPER_PUBLISH_INTERVAL_START",
    )
    interval_step: float = Field(
        default=PublishRetryPolicy.interval_step,
        validation_alias="BEATKEEPER_PUBLISH_INTERVAL_STEP",
    )
    interval_max: float = Field(
        default=PublishRetryPolicy.interval_max, validation_alias="BEATKEEPER_PUBLISH_INTERVAL_MAX"
    )

    def policy(self) -> PublishRetryPolicy:
        return PublishRetryPolicy(**self.model_dump())


class BeatSettings(EnvSettings):
    """``BEATKEEPER_BEAT_*``: the database scheduler's look-ahead, poll interval and batch,
    its leader lease and its backoff during outages."""

    lookahead: float = Field(default=10.0, validation_alias="BEATKEEPER_BEAT_LOOKAHEAD")
    # A crowd of fires due together is handed over earlier, up to this far ahead (0: fixed).
    max_lookahead: float = Field(
        default=300.0, ge=0, validation_alias="BEATKEEPER_BEAT_MAX_LOOKAHEAD"
    )
    poll_interval: float = Field(default=0.5, validation_alias="BEATKEEPER_BEAT_POLL_INTERVAL")
    max_batch: int = Field(default=1000, validation_alias="BEATKEEPER_BEAT_MAX_BATCH")
    # A standby leads within lease_ttl (+ 0.2 s) of the leader's death.
    lease_ttl: float = Field(default=1.2, gt=0, validation_alias="BEATKEEPER_BEAT_LEASE_TTL")
    backoff_cap: float = Field(default=5.0, gt=0, validation_alias="BEATKEEPER_BEAT_BACKOFF_CAP")
    # /api/health answers 503 without a live beat leader (off: a web without a beat is fine).
    health_required: bool = Field(default=False, validation_alias="BEATKEEPER_HEALTH_REQUIRE_BEAT")


class WorkerSettings(EnvSettings):
    """``BEATKEEPER_OUTBOX_DIR`` and ``BEATKEEPER_REAP_*``: where a worker journals the run
    events the store could not take yet, and how it resolves runs left with no live owner."""

    # None: beside an SQLite database, else var/outbox (jobs.worker.outbox).
    outbox_dir: str | None = Field(default=None, validation_alias="BEATKEEPER_OUTBOX_DIR")
    reap_interval: float = Field(default=60.0, gt=0, validation_alias="BEATKEEPER_REAP_INTERVAL")
    # A PENDING or RETRY run this long past its due time was lost with its message.
    reap_pending_after: float = Field(
        default=6 * 3600.0, gt=0, validation_alias="BEATKEEPER_REAP_PENDING_AFTER"
    )
    # A RETRY run this long past its retry's due time has lost its retry message (stranded
    # in a delayed-delivery queue): the reaper sends it again as its next attempt.
    retry_overdue: float = Field(
        default=300.0, gt=0, validation_alias="BEATKEEPER_RETRY_OVERDUE_SECONDS"
    )
    # A run whose re-sent message vanished this many times in a row is dead-lettered with
    # its reason instead of being re-sent again (the broker keeps losing it).
    retry_resends_max: int = Field(default=3, ge=1, validation_alias="BEATKEEPER_RETRY_RESENDS_MAX")
    # How often the reaper also trims history: runs past BEATKEEPER_RUN_RETENTION_DAYS and
    # deleted schedules' tombstones past BEATKEEPER_TOMBSTONE_RETENTION_DAYS.
    trim_interval: float = Field(default=3600.0, gt=0, validation_alias="BEATKEEPER_TRIM_INTERVAL")


def _absolute_file(path: str | None) -> bool:
    return bool(path) and path != ":memory:" and Path(path or "").is_absolute()


MIN_FLOWER_PASSWORD = 16
_DEFAULT_PASSWORDS = frozenset({"admin", "password", "changeme", "change-me", "flower", "secret"})


def _weak(password: str) -> bool:
    return len(password) < MIN_FLOWER_PASSWORD or password.lower() in _DEFAULT_PASSWORDS


class FlowerSettings(EnvSettings):
    """``BEATKEEPER_FLOWER_*``: where Flower listens, who may use it, and the URL linking to it."""

    address: str = Field(default="127.0.0.1", validation_alias="BEATKEEPER_FLOWER_ADDRESS")
    port: int = Field(default=5555, validation_alias="BEATKEEPER_FLOWER_PORT")
    basic_auth: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="BEATKEEPER_FLOWER_BASIC_AUTH"
    )
    db: str = Field(default="var/flower.db", validation_alias="BEATKEEPER_FLOWER_DB")
    max_tasks: int = Field(default=10_000, validation_alias="BEATKEEPER_FLOWER_MAX_TASKS")
    # None: follow address and port, so the UI links to this stack's Flower, not another's.
    public_url: str | None = Field(default=None, validation_alias="BEATKEEPER_FLOWER_URL")

    @field_validator("basic_auth", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if any(":" not in a or not a.split(":", 1)[1] for a in self.basic_auth):
            raise ValueError("BEATKEEPER_FLOWER_BASIC_AUTH must be user:password[,user:password]")
        return self

    @property
    def url(self) -> str:
        """The URL a person opens: ``BEATKEEPER_FLOWER_URL``, or built from address and port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.address in _ALL_INTERFACES else self.address
        return f"http://{host}:{self.port}"


class JobsSettings(EnvSettings):
    """Everything the Celery app, the store, the beat and the enqueue path need."""

    broker: BrokerSettings = BrokerSettings()
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    result_backend: str | None = Field(default=None, validation_alias="BEATKEEPER_RESULT_BACKEND")
    default_queue: str = Field(default="default", validation_alias="BEATKEEPER_DEFAULT_QUEUE")
    timezone: str = Field(default="UTC", validation_alias="BEATKEEPER_TIMEZONE")
    worker_concurrency: int = Field(default=2, validation_alias="BEATKEEPER_WORKER_CONCURRENCY")
    run_retention_days: int = Field(
        default=30, le=36500, validation_alias="BEATKEEPER_RUN_RETENTION_DAYS"
    )
    # A runtime-deleted schedule's row stays this long (the beat and the audit need it).
    tombstone_retention_days: int = Field(
        default=7, ge=1, le=36500, validation_alias="BEATKEEPER_TOMBSTONE_RETENTION_DAYS"
    )
    # Networks the example check_url job may reach although they are not public
    # (comma-separated CIDRs, e.g. 10.0.0.0/8); everything else private is refused.
    check_url_allow: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(), validation_alias="BEATKEEPER_CHECK_URL_ALLOW"
    )
    # Live schedules at most; a create or import beyond it is refused (409).
    max_schedules: int = Field(default=50_000, ge=1, validation_alias="BEATKEEPER_MAX_SCHEDULES")
    job_modules: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("jobs.examples",), validation_alias="BEATKEEPER_JOB_MODULES"
    )
    default_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    publish_retry: PublishRetryPolicy = Field(default_factory=PublishRetryPolicy)
    beat: BeatSettings = BeatSettings()
    flower: FlowerSettings = FlowerSettings()
    worker: WorkerSettings = WorkerSettings()

    @field_validator("job_modules", "check_url_allow", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def nested_from_env(cls, env: Mapping[str, str] | None) -> dict[str, Any]:
        broker = BrokerSettings.from_env(env, check=False)
        return {
            "broker": broker,
            # By field name: a BEATKEEPER_DEFAULT_QUEUE in the environment (by alias) wins.
            "default_queue": broker.queues[0],
            "default_policy": RetrySettings.from_env(env, check=False).policy(),
            "publish_retry": PublishSettings.from_env(env, check=False).policy(),
            "beat": BeatSettings.from_env(env, check=False),
            "flower": FlowerSettings.from_env(env, check=False),
            "worker": WorkerSettings.from_env(env, check=False),
        }

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.default_queue not in self.broker.queues:
            raise ValueError(
                f"BEATKEEPER_DEFAULT_QUEUE={self.default_queue!r} is not one of "
                f"BEATKEEPER_QUEUES ({', '.join(self.broker.queues)})"
            )
        if self.worker_concurrency < 1:
            raise ValueError("BEATKEEPER_WORKER_CONCURRENCY must be at least 1")
        if self.run_retention_days < 1:
            raise ValueError("BEATKEEPER_RUN_RETENTION_DAYS must be at least 1")
        return self

    def refusals(self) -> list[str]:
        """Outside development: Flower's passwords strong, the database chosen on purpose."""
        if self.broker.is_local:
            return []
        found, env = [], f"BEATKEEPER_ENV={self.broker.environment!r}"
        weak = [a.split(":", 1)[0] for a in self.flower.basic_auth if _weak(a.split(":", 1)[1])]
        if weak:
            found.append(
                "BEATKEEPER_FLOWER_BASIC_AUTH has a short or default password for "
                f"{', '.join(weak)} while {env}; "
                f"use at least {MIN_FLOWER_PASSWORD} random characters"
            )
        database = make_url(self.database_url)
        if self.database_url == DEFAULT_DATABASE_URL:
            found.append(
                f"DATABASE_URL is the embedded SQLite default while {env}; set DATABASE_URL"
            )
        elif database.get_backend_name() == "sqlite" and not _absolute_file(database.database):
            found.append(
                f"DATABASE_URL is an in-memory or relative SQLite path while {env}; "
                "use PostgreSQL, or an absolute SQLite file on one host"
            )
        return found

    def cautions(self) -> list[str]:
        if self.broker.is_local or make_url(self.database_url).get_backend_name() != "sqlite":
            return []
        return [
            "DATABASE_URL is SQLite outside development: every process must run on this one "
            "host (no beat standby or worker elsewhere); PostgreSQL is the production store"
        ]

    @property
    def flower_url(self) -> str:
        return self.flower.url
