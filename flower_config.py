"""Flower's configuration: ``celery -A jobs flower --conf=flower_config.py``.

Every value comes from ``JobsSettings`` (``BEATKEEPER_FLOWER_*``, read once with the rest
of the app's settings); command-line options override this file. Outside local development
Flower refuses to start without basic auth
(``BEATKEEPER_FLOWER_BASIC_AUTH=user:password[,user2:password2]``).
Note: Flower does not protect /metrics and /healthcheck with basic auth.
"""

import os
from urllib.parse import urlsplit

from jobs.celery import app

_settings = app.settings
_flower = _settings.flower

address = _flower.address
port = _flower.port

if _flower.basic_auth:
    basic_auth = list(_flower.basic_auth)
elif _settings.broker.is_local:
    if address in ("127.0.0.1", "localhost", "::1"):
        # Local development without auth, reachable from this machine only: keep Flower's
        # JSON API (401 without auth by default) usable for scripts and tests.
        os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
else:
    raise SystemExit(
        f"BEATKEEPER_FLOWER_BASIC_AUTH is unset while BEATKEEPER_ENV="
        f"{_settings.broker.environment!r}: Flower would be open to anyone; set user:password"
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
