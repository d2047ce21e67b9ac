"""The Celery app ``celery -A jobs worker|beat|flower`` finds.

Importing this module reads the environment once (see ``jobs.settings``).
"""

from jobs.factory import create_celery_app

app = create_celery_app()

__all__ = ["app"]
