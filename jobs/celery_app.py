"""``BeatkeeperCelery``: the Celery app with Beatkeeper's resources as typed attributes.

Flask keeps an application's resources on the application; so does Beatkeeper. The factory
(:func:`jobs.factory.create_celery_app`) sets each attribute once; code that is handed the
app reads them with their types instead of through ``Any``.
"""

from __future__ import annotations

from celery import Celery

from broker.topology import Topology
from jobs.registry import JobRegistry
from jobs.settings import JobsSettings
from jobs.store import RunStore


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
