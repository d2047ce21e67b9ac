"""RabbitMQ "containers" for pytest-celery's ``RabbitMQTestBroker``, without Docker.

- ``PrivateRabbitMQ``: a vhost of our own on a private node (``RabbitMQNode``); ``kill()``
  SIGKILLs the node, ``restart()`` stops and starts it; the vhost survives both.
- ``SharedRabbitMQVhost``: a vhost of our own on the shared broker every session uses; it
  refuses ``kill()`` and ``restart()``, because that broker is never restarted by a test.

Either way the test gets its own vhost, so Celery's shared names (``celery.pidbox``,
``celeryev``, ``celery_delayed_*``) never meet another test's.
"""

from __future__ import annotations

import signal as signals
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pytest_celery import RabbitMQContainer

from tests.support.celery_local.process import LocalContainer, as_signal
from tests.support.celery_local.rabbitmq_node import RabbitMQNode


def new_vhost() -> str:
    return f"bk-test-{uuid.uuid4().hex[:10]}"


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


class _LocalRabbitMQ(LocalContainer, RabbitMQContainer):
    _url: str
    _vhost: str

    @property
    def celeryconfig(self) -> dict[str, Any]:
        # A container has an in-network url and a host url; a local process only the latter.
        return {
            "url": self._url,
            "host_url": self._url,
            "hostname": self.hostname,
            "port": self.port,
            "vhost": self._vhost,
        }

    @property
    def url(self) -> str:
        return self._url

    @property
    def host_url(self) -> str:
        return self._url

    @property
    def hostname(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(urlsplit(self._url).port or 5672)

    @property
    def vhost(self) -> str:
        return self._vhost


class PrivateRabbitMQ(_LocalRabbitMQ):
    """A vhost on a private node that the test may kill and restart."""

    def __init__(self, node: RabbitMQNode, workdir: Path, vhost: str | None = None) -> None:
        self.node = node
        self._vhost = vhost or new_vhost()
        self._url = node.url(self._vhost)
        self._init_local("rabbitmq", workdir, {"RABBITMQ_NODENAME": node.name})
        node.start()
        node.add_vhost(self._vhost)

    def is_running(self) -> bool:
        return self.node.running()

    def ready(self) -> bool:
        return self.is_running()

    def logs(self) -> str:
        return self.node.logs()

    def kill(self, signal: str | int = "SIGKILL", **_: Any) -> None:
        if as_signal(signal) == signals.SIGKILL:
            self.node.kill()
        else:
            self.node.stop()

    def restart(self, timeout: float = 60, **_: Any) -> None:
        self.node.stop()
        self.node.start(timeout=timeout)

    def teardown(self) -> None:
        """Bring the node back for the next test (if this one left it down), drop the vhost."""
        if not self._torn_down:
            self._torn_down = True
            self.node.start()
            self.node.delete_vhost(self._vhost)


class SharedRabbitMQVhost(_LocalRabbitMQ):
    """A vhost on the shared broker, created and deleted through the management API."""

    def __init__(self, broker_url: str, management_url: str, workdir: Path) -> None:
        self._vhost = new_vhost()
        self._url = with_vhost(broker_url, self._vhost)
        parts = urlsplit(management_url)
        self._api = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}/api"
        self._auth = (parts.username or "guest", parts.password or "guest")
        self._init_local("rabbitmq-vhost", workdir, {})
        user = urlsplit(broker_url).username or "guest"
        name = quote(self._vhost, safe="")
        with httpx.Client(auth=self._auth, timeout=10) as http:
            http.put(f"{self._api}/vhosts/{name}").raise_for_status()
            http.put(
                f"{self._api}/permissions/{name}/{quote(user, safe='')}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            ).raise_for_status()

    def is_running(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def logs(self) -> str:
        return ""

    def kill(self, signal: str | int = "SIGKILL", **_: Any) -> None:
        raise RuntimeError("the shared RabbitMQ is never killed by a test: use the private node")

    def restart(self, timeout: float = 60, **_: Any) -> None:
        raise RuntimeError("the shared RabbitMQ is never restarted by a test: use the private node")

    def teardown(self) -> None:
        if not self._torn_down:
            self._torn_down = True
            with httpx.Client(auth=self._auth, timeout=10) as http:
                http.delete(f"{self._api}/vhosts/{quote(self._vhost, safe='')}")
