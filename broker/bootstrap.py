"""Local development: make sure a RabbitMQ with the management plugin is running.

Starts an installed ``rabbitmq-server`` when the broker URL points at this machine
and nothing answers; otherwise says precisely how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from broker import health, redact
from broker.management import ManagementClient, ManagementError
from broker.settings import BrokerSettings

INSTALL_HELP = """\
RabbitMQ is not reachable at {url} and no rabbitmq-server is installed here.
Get one, then run this again:
  - Debian/Ubuntu:  sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached
  - with Docker:    docker compose up -d rabbitmq   (then export the BEATKEEPER_BROKER_URL
                    and BEATKEEPER_RABBITMQ_MANAGEMENT_URL that compose.yaml uses)
  - elsewhere:      set BEATKEEPER_BROKER_URL=amqp://USER:PASSWORD@HOST:5672/VHOST"""


class BootstrapError(RuntimeError):
    """RabbitMQ could not be made available; the message says what to do."""


def _is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def management_up(settings: BrokerSettings) -> bool:
    client = ManagementClient(settings.management_url, timeout=2)
    try:
        client.overview()
        return True
    except ManagementError:
        return False
    finally:
        client.close()


def ensure_rabbitmq(settings: BrokerSettings, say: Callable[[str], object] = print) -> None:
    """Make the broker (and, locally, its management plugin) reachable or raise with advice."""
    if not health.check(settings.url).ok:
        if not _is_local(settings.url):
            raise BootstrapError(
                f"RabbitMQ at {redact.url(settings.url)} is not reachable; "
                "check BEATKEEPER_BROKER_URL"
            )
        server = shutil.which("rabbitmq-server")
        if server is None:
            raise BootstrapError(INSTALL_HELP.format(url=redact.url(settings.url)))
        say("starting local RabbitMQ: rabbitmq-server -detached")
        result = _run([server, "-detached"])
        if result.returncode != 0:
            raise BootstrapError(
                f"rabbitmq-server -detached failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}; start it as root or with sudo"
            )
        if not _wait(lambda: health.check(settings.url).ok, 90):
            raise BootstrapError("rabbitmq-server started but AMQP did not answer within 90 s")
    if _is_local(settings.management_url) and not management_up(settings):
        plugins = shutil.which("rabbitmq-plugins")
        if plugins is None:
            say("warning: management API unreachable and rabbitmq-plugins not found")
            return
        say("enabling the RabbitMQ management plugin")
        result = _run([plugins, "enable", "rabbitmq_management"])
        if result.returncode != 0:
            raise BootstrapError(
                "rabbitmq-plugins enable rabbitmq_management failed: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        if not _wait(lambda: management_up(settings), 60):
            raise BootstrapError(
                f"management plugin enabled but {settings.management_api} did not answer in 60 s"
            )
