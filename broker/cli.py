"""``python -m broker declare|verify|health|bootstrap|queues``."""

from __future__ import annotations

import argparse
import sys

from kombu import Connection

from broker import bootstrap, declare, health, redact
from broker.management import ManagementClient, ManagementError
from broker.settings import BrokerSettings, UnsafeSettingsError
from broker.topology import describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("declare", help="declare exchanges and quorum queues (idempotent)")
    sub.add_parser("verify", help="check the broker matches the topology in code; create nothing")
    sub.add_parser("health", help="exit 0 when the broker answers")
    sub.add_parser("bootstrap", help="local dev: start RabbitMQ + management plugin if needed")
    sub.add_parser("queues", help="queue depths from the management API")
    args = parser.parse_args(argv)
    try:
        settings = BrokerSettings.from_env()
    except (ValueError, UnsafeSettingsError) as exc:
        print(f"error: {redact.text(str(exc))}", file=sys.stderr)
        return 2
    topology = describe(settings)
    try:
        if args.command == "health":
            result = health.check(settings.url, timeout=settings.connect_timeout)
            print("ok" if result.ok else f"unreachable: {redact.text(str(result.error))}")
            return 0 if result.ok else 1
        if args.command == "bootstrap":
            bootstrap.ensure_rabbitmq(settings)
            print("rabbitmq: ok")
            return 0
        if args.command == "queues":
            client = ManagementClient.for_broker(settings)
            for q in client.queues(settings.prefix + "."):
                print(
                    f"{q.name:40} ready={q.ready:<8} unacked={q.unacked:<8} consumers={q.consumers}"
                )
            return 0
        with Connection(
            settings.url,
            connect_timeout=settings.connect_timeout,
            ssl=settings.ssl_options or False,
        ) as conn:
            action = declare.declare if args.command == "declare" else declare.verify
            for state in action(conn, topology):
                print(f"{state.name:40} messages={state.messages:<8} consumers={state.consumers}")
        return 0
    except (declare.TopologyError, bootstrap.BootstrapError, ManagementError) as exc:
        print(f"error: {redact.text(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = redact.url(settings.url)
        print(f"error: broker at {where} unreachable: {redact.text(str(exc))}", file=sys.stderr)
        return 1
