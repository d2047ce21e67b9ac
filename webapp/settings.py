"""Web settings, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from broker.management import public_url
from broker.settings import UnsafeSettingsError
from jobs.settings import JobsSettings

DEV_SECRET_KEY = "beatkeeper-development-only-secret"


@dataclass(frozen=True)
class WebSettings:
    jobs: JobsSettings = field(default_factory=JobsSettings)
    secret_key: str = DEV_SECRET_KEY
    flower_url: str = "http://127.0.0.1:5555"
    rabbitmq_console_url: str = "http://127.0.0.1:15672/"
    run_poll_interval_ms: int = 1000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSettings:
        source = dict(os.environ if env is None else env)
        jobs = JobsSettings.from_env(source)
        settings = cls(
            jobs=jobs,
            secret_key=source.get("BEATKEEPER_SECRET_KEY") or DEV_SECRET_KEY,
            flower_url=jobs.flower_url,
            rabbitmq_console_url=source.get("BEATKEEPER_RABBITMQ_CONSOLE_URL")
            or public_url(jobs.broker.management_url),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.jobs.broker.is_local and self.secret_key == DEV_SECRET_KEY:
            raise UnsafeSettingsError(
                "BEATKEEPER_SECRET_KEY is unset (the development default) while "
                f"BEATKEEPER_ENV={self.jobs.broker.environment!r}; set a long random value"
            )
        if not self.jobs.broker.is_local and len(self.secret_key) < 32:
            raise UnsafeSettingsError("BEATKEEPER_SECRET_KEY must be at least 32 characters")
