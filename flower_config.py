"""Flower's configuration: ``celery -A jobs flower --conf=flower_config.py``.

Every value comes from ``JobsSettings`` (``BEATKEEPER_FLOWER_*``, read once with the rest
of the app's settings); command-line options override this file.

Security (README "Security"):
- Outside local development Flower refuses to start without basic auth
  (``BEATKEEPER_FLOWER_BASIC_AUTH=user:password[,user2:password2]``, a password of at least
  16 characters), and then ``/metrics`` and ``/healthcheck`` need the same credentials
  (Flower itself leaves them open).
- In local development without basic auth Flower must listen on loopback, and its JSON API
  stays closed (401): ``FLOWER_UNAUTHENTICATED_API`` is never set, because with it Flower answers
  any web page's cross-origin POST (enqueue, revoke, shut workers down) with
  ``Access-Control-Allow-Origin: *``.
"""

import os
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from flower.views import monitor
from tornado.options import options as _flower_options

from broker.settings import is_loopback
from jobs.celery import app

_settings = app.settings
_flower = _settings.flower

# Flower has parsed its command line before it runs this file, and the command line wins
# afterwards: check the address Flower will really listen on.
address = _flower_options.address or _flower.address
port = _flower.port

# Whatever the shell says: an open JSON API would answer cross-origin writes from any page.
os.environ.pop("FLOWER_UNAUTHENTICATED_API", None)


def _require_credentials(handler: Any) -> None:
    # Flower checks basic auth on its pages and API but not on /metrics and /healthcheck;
    # ``current_user`` runs its check (a 401 for missing or wrong credentials).
    if not handler.current_user:
        raise tornado.web.HTTPError(401)


if _flower.basic_auth:
    basic_auth = list(_flower.basic_auth)
    # The one place Flower offers no option: its two monitoring handlers skip authentication.
    monitor.Metrics.prepare = _require_credentials  # type: ignore[method-assign]
    monitor.Healthcheck.prepare = _require_credentials  # type: ignore[method-assign]
elif not _settings.broker.is_local:
    raise SystemExit(
        f"BEATKEEPER_FLOWER_BASIC_AUTH is unset while BEATKEEPER_ENV="
        f"{_settings.broker.environment!r}: Flower would be open to anyone; set user:password"
    )
elif not is_loopback(address):
    raise SystemExit(
        f"Flower without BEATKEEPER_FLOWER_BASIC_AUTH would listen on {address!r}: in "
        "development set BEATKEEPER_FLOWER_ADDRESS=127.0.0.1, or set "
        "BEATKEEPER_FLOWER_BASIC_AUTH=user:password to listen elsewhere"
    )

# Keep task history across restarts.
persistent = True
db = _flower.db
state_save_interval = 60_000  # ms
max_tasks = _flower.max_tasks
max_workers = 200
purge_offline_workers = 3600
inspect_timeout = 3000.0
enable_events = True

# The Broker tab reads queue depths from the RabbitMQ management API.
broker_api = _settings.broker.management_api + "/api/"
if not _settings.broker.is_local and urlsplit(broker_api).username in (None, "guest"):
    raise SystemExit(
        "BEATKEEPER_RABBITMQ_MANAGEMENT_URL uses the guest account outside development"
    )

tasks_columns = "name,uuid,state,args,kwargs,result,received,started,runtime,retries,worker"
