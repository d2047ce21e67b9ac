"""``BeatkeeperCelery``: the Celery app with Beatkeeper's resources as typed attributes.

Flask keeps an application's resources on the application; so does Beatkeeper. The factory
(:func:`jobs.factory.create_celery_app`) sets each attribute once; code that is handed the
app reads them with their types instead of through ``Any``.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.apps.worker import Worker as WorkerProgram
from celery.utils.nodenames import NODENAME_DEFAULT, host_format, nodesplit
from kombu.utils.objects import cached_property

from broker import names
from broker.topology import Topology
from jobs.registry import JobRegistry
from jobs.settings import JobsSettings
from jobs.store import RunStore


class PrefixedWorker(WorkerProgram):
    """``celery worker`` whose default node name is ``<prefix>@<host>``, not ``celery@<host>``.

    Celery has no setting for the default node name (its CLI fills in ``celery@HOST`` before
    the app is consulted), so a name whose first half is Celery's default is taken as "not
    chosen": ``-n w1@%h`` is kept, ``-n celery@%h`` and no ``-n`` become ``<prefix>@%h``.
    """

    app: BeatkeeperCelery

    def __init__(self, app: Any = None, hostname: str | None = None, **kwargs: Any) -> None:
        owner = app or self.app
        name, host = nodesplit(hostname or "")
        if name in (None, NODENAME_DEFAULT) and isinstance(owner, BeatkeeperCelery):
            hostname = host_format(
                names.worker_node_name(owner.settings.broker.prefix, host or "%h")
            )
        super().__init__(app=app, hostname=hostname, **kwargs)


class BeatkeeperCelery(Celery):
    """A Celery app that also carries the settings, topology, job registry and run store."""

    settings: JobsSettings
    topology: Topology
    registry: JobRegistry
    store: RunStore

    def attach(
        self,
        *,
        settings: JobsSettings,
        topology: Topology,
        registry: JobRegistry,
        store: RunStore,
    ) -> None:
        """Give the app its resources (once, from the factory).

        Not constructor arguments: Celery rebuilds an app from its class and its own
        keyword arguments when it pickles one.
        """
        self.settings = settings
        self.topology = topology
        self.registry = registry
        self.store = store

    @cached_property
    def Worker(self) -> type[WorkerProgram]:  # Celery's own name for this seam
        """The worker program, with node names that follow the queue prefix."""
        cls: type[WorkerProgram] = self.subclass_with_self(PrefixedWorker)
        return cls
