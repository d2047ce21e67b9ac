"""Fault tests: pytest-celery's API (``celery_setup``, ``CeleryTestWorker.kill()``,
``RabbitMQTestBroker.restart()``) on real worker processes and a private RabbitMQ node."""

from tests.support.celery_local.beatkeeper import *  # noqa: F403 - Beatkeeper's worker and app
from tests.support.celery_local.fixtures import *  # noqa: F403 - the container leaves, locally
