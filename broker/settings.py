"""Typed broker settings, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
LOCAL_ENVIRONMENTS = frozenset({"development", "test"})


class UnsafeSettingsError(RuntimeError):
    """A default secret or credential is in use outside local development."""


def _int(env: dict[str, str] | os._Environ[str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class BrokerSettings:
    """Where RabbitMQ is and how Beatkeeper's topology is named there.

    ``prefix`` namespaces every exchange and queue so that several deployments
    (or test sessions) can share one vhost without touching each other.
    """

    url: str = DEFAULT_BROKER_URL
    management_url: str = DEFAULT_MANAGEMENT_URL
    prefix: str = "beatkeeper"
    queues: tuple[str, ...] = ("default", "slow")
    delivery_limit: int = 20
    hold_shards: int = 4
    environment: str = "development"
    heartbeat: int = 60
    connect_timeout: float = 5.0
    extra: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> BrokerSettings:
        """Read ``BEATKEEPER_*`` variables; anything unset keeps its local default."""
        source = os.environ if env is None else env
        queues = _split(source.get("BEATKEEPER_QUEUES", "default,slow"))
        if not queues:
            raise ValueError("BEATKEEPER_QUEUES must name at least one queue")
        settings = cls(
            url=source.get("BEATKEEPER_BROKER_URL", DEFAULT_BROKER_URL),
            management_url=source.get("BEATKEEPER_RABBITMQ_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL),
            prefix=source.get("BEATKEEPER_QUEUE_PREFIX", "beatkeeper"),
            queues=queues,
            delivery_limit=_int(source, "BEATKEEPER_DELIVERY_LIMIT", 20),
            hold_shards=_int(source, "BEATKEEPER_HOLD_SHARDS", 4),
            environment=source.get("BEATKEEPER_ENV", "development"),
            heartbeat=_int(source, "BEATKEEPER_BROKER_HEARTBEAT", 60),
        )
        settings.validate()
        return settings

    @property
    def is_local(self) -> bool:
        return self.environment in LOCAL_ENVIRONMENTS

    def validate(self) -> None:
        """Refuse settings that are wrong anywhere, and default credentials outside development."""
        if self.delivery_limit < 1:
            raise ValueError("BEATKEEPER_DELIVERY_LIMIT must be at least 1")
        if not 1 <= self.hold_shards <= 64:
            raise ValueError("BEATKEEPER_HOLD_SHARDS must be between 1 and 64")
        if not self.prefix or any(c in self.prefix for c in " #*"):
            raise ValueError("BEATKEEPER_QUEUE_PREFIX must be non-empty and free of ' ', '#', '*'")
        if not self.is_local:
            for name, url in (
                ("BEATKEEPER_BROKER_URL", self.url),
                ("BEATKEEPER_RABBITMQ_MANAGEMENT_URL", self.management_url),
            ):
                parts = urlsplit(url)
                if parts.username in (None, "guest") or parts.password in (None, "guest"):
                    raise UnsafeSettingsError(
                        f"{name} uses the default guest account (or none) while "
                        f"BEATKEEPER_ENV={self.environment!r}; set a dedicated user and password"
                    )

    @property
    def management_api(self) -> str:
        """The management URL without a trailing slash."""
        return self.management_url.rstrip("/")
