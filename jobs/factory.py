"""``create_celery_app``: the Celery app with Beatkeeper's topology, safety settings and jobs."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from celery.signals import worker_process_init

from broker import names
from broker.topology import Topology, describe, kombu_work_queues
from jobs.celery_app import BeatkeeperCelery
from jobs.policies import effective
from jobs.registry import JobRegistry
from jobs.settings import JobsSettings
from jobs.store import RunStore, make_engine
from jobs.tasks import bind_job
from jobs.worker.reaper import Reaper


def load_registry(modules: str | Iterable[str]) -> JobRegistry:
    """Merge the ``registry`` of every module named (a list, or comma-separated)."""
    names = modules.split(",") if isinstance(modules, str) else modules
    registries = []
    for name in (n.strip() for n in names if n.strip()):
        module = importlib.import_module(name)
        registry = getattr(module, "registry", None)
        if not isinstance(registry, JobRegistry):
            raise ImportError(f"{name} has no `registry = JobRegistry()` to load jobs from")
        registries.append(registry)
    return JobRegistry().merge(*registries)


def celery_config(settings: JobsSettings, topology: Topology) -> dict[str, Any]:
    """Celery settings: JSON only, late acks, quorum queues, native delayed delivery."""
    default = topology.work_queue(settings.default_queue)
    return {
        "broker_url": settings.broker.url,
        "broker_heartbeat": settings.broker.heartbeat,
        "broker_connection_timeout": settings.broker.connect_timeout,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"confirm_publish": True},
        # TLS options (CA, client certificate) from BEATKEEPER_BROKER_SSL_*; False: plain AMQP.
        "broker_use_ssl": settings.broker.ssl_options or False,
        "result_backend": settings.result_backend,
        "task_ignore_result": settings.result_backend is None,
        # JSON only: pickle would let anyone who can publish run code in a worker.
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_queues": kombu_work_queues(topology),
        "task_default_queue": default.name,
        "task_default_exchange": topology.exchange.name,
        "task_default_exchange_type": "topic",
        "task_default_routing_key": default.routing_key,
        "task_create_missing_queues": False,
        "broker_native_delayed_delivery_queue_type": "quorum",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": False,
        "task_track_started": True,
        "task_publish_retry_policy": settings.publish_retry.as_kombu(),
        # Celery's control and event exchanges follow the prefix too, so deployments (and test
        # sessions) sharing a vhost neither see nor control each other's workers.
        "control_exchange": names.control_namespace(settings.broker.prefix),
        "event_exchange": names.event_exchange_name(settings.broker.prefix),
        "event_queue_prefix": names.event_exchange_name(settings.broker.prefix),
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        # Messages the worker cannot run go to their DLQ with the reason (jobs.worker.consumer).
        "worker_consumer": "jobs.worker.consumer:GuardedConsumer",
        "beat_scheduler": "jobs.beat.scheduler:DatabaseScheduler",
        "timezone": settings.timezone,
        "enable_utc": True,
    }


def create_celery_app(
    settings: JobsSettings | None = None,
    registry: JobRegistry | None = None,
    *,
    main: str = "beatkeeper",
) -> BeatkeeperCelery:
    """Build the Celery app; its resources (settings, topology, store, registry) hang on it."""
    settings = settings or JobsSettings.from_env()
    registry = registry if registry is not None else load_registry(settings.job_modules)
    topology = describe(settings.broker)
    app = BeatkeeperCelery(main, set_as_current=False)
    app.conf.update(celery_config(settings, topology))
    engine = make_engine(settings.database_url)
    app.attach(settings=settings, topology=topology, registry=registry, store=RunStore(engine))

    def _reset_engine_after_fork(**_: Any) -> None:
        # Pooled connections must not be shared with the parent after a fork.
        engine.dispose(close=False)

    worker_process_init.connect(_reset_engine_after_fork, weak=False)

    routes = {}
    for spec in registry:
        queue = topology.work_queue(spec.queue or settings.default_queue)
        policy = effective(settings.default_policy, spec.policy_overrides)
        bind_job(app, spec, policy, queue.name)
        routes[spec.name] = {"queue": queue.name}
    app.conf.task_routes = routes
    # Every worker resolves runs left with no live owner (jobs.worker.reaper).
    app.steps["worker"].add(Reaper)
    return app
