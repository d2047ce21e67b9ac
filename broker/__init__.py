"""RabbitMQ side of Beatkeeper: topology as code, health checks and local bootstrap.

Nothing here imports ``jobs`` or ``webapp``: dependencies point one way.
"""
