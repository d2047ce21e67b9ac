#!/bin/sh
# The topology of deploy/compose.cluster.yaml as local processes on this machine: a 3-node
# RabbitMQ cluster on its own ports, a PostgreSQL database, 2 workers, 2 beats, 2 web
# processes. Ctrl-C (or SIGTERM) stops all of it. `--check` runs one job end to end and stops.
# Needs rabbitmq-server installed and PostgreSQL on 127.0.0.1:5432 (BEATKEEPER_BENCH_POSTGRES).
set -eu
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m benchmarks.local_cluster "$@"
