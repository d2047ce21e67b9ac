"""Flower's configuration: ``celery -A jobs flower --conf=flower_config.py``.

Every value comes from the environment with a local default; command-line options
override this file. Outside local development Flower refuses to start without
basic auth (``BEATKEEPER_FLOWER_BASIC_AUTH=user:password[,user2:password2]``).
Note: Flower does not protect /metrics and /healthcheck with basic auth.
"""

import os
from urllib.parse import urlsplit

_env = os.environ.get("BEATKEEPER_ENV", "development")
_local = _env in ("development", "test")

address = os.environ.get("BEATKEEPER_FLOWER_ADDRESS", "127.0.0.1")
port = int(os.environ.get("BEATKEEPER_FLOWER_PORT", "5555"))

_auth = [
    a.strip() for a in os.environ.get("BEATKEEPER_FLOWER_BASIC_AUTH", "").split(",") if a.strip()
]
if _auth:
    if any(":" not in a or not a.split(":", 1)[1] for a in _auth):
        raise SystemExit("BEATKEEPER_FLOWER_BASIC_AUTH must be user:password[,user:password]")
    basic_auth = _auth
elif _local:
    if address in ("127.0.0.1", "localhost", "::1"):
        # Local development without auth, reachable from this machine only: keep Flower's
        # JSON API (401 without auth by default) usable for scripts and tests.
        os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
else:
    raise SystemExit(
        f"BEATKEEPER_FLOWER_BASIC_AUTH is unset while BEATKEEPER_ENV={_env!r}: "
        "Flower would be open to anyone; set user:password"
    )

# Keep task history across restarts.
persistent = True
db = os.environ.get("BEATKEEPER_FLOWER_DB", "var/flower.db")
state_save_interval = 60_000  # ms
max_tasks = int(os.environ.get("BEATKEEPER_FLOWER_MAX_TASKS", "10000"))
max_workers = 200
purge_offline_workers = 3600
inspect_timeout = 3000.0
enable_events = True

# The Broker tab reads queue depths from the RabbitMQ management API.
broker_api = (
    os.environ.get(
        "BEATKEEPER_RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
    ).rstrip("/")
    + "/api/"
)
if not _local and urlsplit(broker_api).username in (None, "guest"):
    raise SystemExit(
        "BEATKEEPER_RABBITMQ_MANAGEMENT_URL uses the guest account outside development"
    )

tasks_columns = "name,uuid,state,args,kwargs,result,received,started,runtime,retries,worker"
