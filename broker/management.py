"""A thin client for the RabbitMQ management HTTP API (queue depths, plugin check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from broker.settings import BrokerSettings


class ManagementError(RuntimeError):
    """The management API is unreachable or answered with an error."""


@dataclass(frozen=True)
class QueueDepth:
    name: str
    ready: int
    unacked: int
    consumers: int


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``url`` without user:password, and the credentials for basic auth."""
    parts = urlsplit(url)
    auth = (parts.username or "", parts.password or "") if parts.username else None
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


def public_url(url: str) -> str:
    """The console URL a person can open: credentials removed."""
    return split_credentials(url)[0] + "/"


class ManagementClient:
    def __init__(self, url: str, vhost: str = "/", timeout: float = 3.0) -> None:
        self.base, auth = split_credentials(url)
        self.vhost = vhost
        self._client = httpx.Client(auth=auth, timeout=timeout)

    @classmethod
    def for_broker(cls, settings: BrokerSettings, timeout: float = 3.0) -> ManagementClient:
        """A client for the vhost the broker URL names (not always ``/``)."""
        return cls(settings.management_url, settings.vhost, timeout)

    def _get(self, path: str) -> Any:
        try:
            response = self._client.get(f"{self.base}/api/{path}")
        except httpx.HTTPError as exc:
            raise ManagementError(f"management API at {self.base} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise ManagementError(f"management API answered {response.status_code} for /api/{path}")
        return response.json()

    def overview(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("overview")
        return result

    def queues(self, prefix: str) -> list[QueueDepth]:
        """Depths of the queues whose names start with ``prefix``."""
        rows = self._get(f"queues/{quote(self.vhost, safe='')}")
        return [
            QueueDepth(
                row["name"],
                int(row.get("messages_ready", 0) or 0),
                int(row.get("messages_unacknowledged", 0) or 0),
                int(row.get("consumers", 0) or 0),
            )
            for row in rows
            if row["name"].startswith(prefix)
        ]

    def close(self) -> None:
        self._client.close()
