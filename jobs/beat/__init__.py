"""The running scheduler: the engine, the Celery scheduler class and the code-schedule sync."""
