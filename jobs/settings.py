"""Typed settings for the job platform, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from broker.policies import PublishRetryPolicy
from broker.settings import BrokerSettings, UnsafeSettingsError
from jobs.policies import RetryPolicy

DEFAULT_DATABASE_URL = "sqlite:///var/beatkeeper.db"


def _get(env: dict[str, str], key: str, default: str) -> str:
    value = env.get(key)
    return default if value is None or value == "" else value


def _number(env: dict[str, str], key: str, default: float, kind: type = float) -> float:
    raw = _get(env, key, str(default))
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{key} must be a {kind.__name__}, got {raw!r}") from None


def _bool(env: dict[str, str], key: str, default: bool) -> bool:
    raw = _get(env, key, "true" if default else "false").lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{key} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class JobsSettings:
    """Everything the Celery app, the store and the enqueue path need."""

    broker: BrokerSettings = field(default_factory=BrokerSettings)
    database_url: str = DEFAULT_DATABASE_URL
    result_backend: str | None = None
    default_queue: str = "default"
    timezone: str = "UTC"
    worker_concurrency: int = 2
    default_policy: RetryPolicy = field(default_factory=RetryPolicy)
    publish_retry: PublishRetryPolicy = field(default_factory=PublishRetryPolicy)
    run_retention_days: int = 30
    flower_url: str = "http://127.0.0.1:5555"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> JobsSettings:
        """Read ``BEATKEEPER_*`` and ``DATABASE_URL``; unset keys keep safe local defaults."""
        source: dict[str, str] = dict(os.environ if env is None else env)
        broker = BrokerSettings.from_env(source)
        policy = RetryPolicy(
            max_retries=int(_number(source, "BEATKEEPER_RETRY_MAX_RETRIES", 3, int)),
            backoff_base=int(_number(source, "BEATKEEPER_RETRY_BACKOFF_BASE", 2, int)),
            backoff_cap=int(_number(source, "BEATKEEPER_RETRY_BACKOFF_CAP", 600, int)),
            jitter=_bool(source, "BEATKEEPER_RETRY_JITTER", True),
            time_limit=int(_number(source, "BEATKEEPER_TASK_TIME_LIMIT", 300, int)),
        )
        publish = PublishRetryPolicy(
            max_retries=int(_number(source, "BEATKEEPER_PUBLISH_MAX_RETRIES", 3, int)),
            interval_start=_number(source, "BEATKEEPER_PUBLISH_INTERVAL_START", 0.2),
            interval_step=_number(source, "BEATKEEPER_PUBLISH_INTERVAL_STEP", 0.5),
            interval_max=_number(source, "BEATKEEPER_PUBLISH_INTERVAL_MAX", 2.0),
        )
        settings = cls(
            broker=broker,
            database_url=_get(source, "DATABASE_URL", DEFAULT_DATABASE_URL),
            result_backend=source.get("BEATKEEPER_RESULT_BACKEND") or None,
            default_queue=_get(source, "BEATKEEPER_DEFAULT_QUEUE", broker.queues[0]),
            timezone=_get(source, "BEATKEEPER_TIMEZONE", "UTC"),
            worker_concurrency=int(_number(source, "BEATKEEPER_WORKER_CONCURRENCY", 2, int)),
            default_policy=policy,
            publish_retry=publish,
            run_retention_days=int(_number(source, "BEATKEEPER_RUN_RETENTION_DAYS", 30, int)),
            flower_url=_get(source, "BEATKEEPER_FLOWER_URL", "http://127.0.0.1:5555"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.default_queue not in self.broker.queues:
            raise ValueError(
                f"BEATKEEPER_DEFAULT_QUEUE={self.default_queue!r} is not one of "
                f"BEATKEEPER_QUEUES ({', '.join(self.broker.queues)})"
            )
        if self.worker_concurrency < 1:
            raise ValueError("BEATKEEPER_WORKER_CONCURRENCY must be at least 1")
        if self.run_retention_days < 1:
            raise ValueError("BEATKEEPER_RUN_RETENTION_DAYS must be at least 1")
        if not self.broker.is_local and self.database_url == DEFAULT_DATABASE_URL:
            raise UnsafeSettingsError(
                "DATABASE_URL is the embedded SQLite default while "
                f"BEATKEEPER_ENV={self.broker.environment!r}; set DATABASE_URL explicitly"
            )
