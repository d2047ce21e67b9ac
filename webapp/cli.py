"""The ``beatkeeper`` command: ``up`` runs the whole stack; also ``db``, ``jobs``, ``enqueue``,
``run``, ``schedules``, ``dlq``, ``users`` and ``tokens``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from webapp.cli_common import Commands, _fail, _jobs_settings, _web_settings

if TYPE_CHECKING:
    from webapp.settings import WebSettings

PROCESS_COMMANDS = {
    "web": "{python} -m uvicorn --factory webapp.asgi:create_app --host {host} --port {port} "
    "--no-access-log --workers {web_workers}",
    "worker": "{python} -m celery -A jobs worker --loglevel INFO{node}",
    "beat": "{python} -m celery -A jobs beat --loglevel INFO",
    "flower": "{python} -m celery -A jobs flower --conf=flower_config.py",
}


def process_commands(
    web: WebSettings, *, python: str, host: str, port: int, only: tuple[str, ...] = ()
) -> dict[str, str]:
    """The command line of every process ``up`` starts, by its name in the log prefix.

    ``BEATKEEPER_WORKER_INSTANCES`` above 1 starts ``worker.1``, ``worker.2``... with node
    names ``<prefix>@<host>-<n>``: Celery refuses two workers with one node name.
    """
    from broker.names import worker_node_name

    commands: dict[str, str] = {}
    instances = web.worker_instances
    for name, template in PROCESS_COMMANDS.items():
        if only and name not in only:
            continue
        fields = {"python": python, "host": host, "port": port, "web_workers": web.web_workers}
        if name != "worker" or instances == 1:
            commands[name] = template.format(**fields, node="")
            continue
        prefix = web.jobs.broker.prefix
        for n in range(1, instances + 1):
            node = f" -n {worker_node_name(prefix, f'%h-{n}')}"
            commands[f"worker.{n}"] = template.format(**fields, node=node)
    return commands


@click.group(cls=Commands, help=__doc__)
def main() -> None:
    pass


@main.command()
@click.option("--host", default=None, help="default: BEATKEEPER_WEB_HOST or 127.0.0.1")
@click.option("--port", default=None, type=int, help="default: BEATKEEPER_WEB_PORT or 8000")
@click.option(
    "--only", multiple=True, type=click.Choice(sorted(PROCESS_COMMANDS)), help="start only these"
)
def up(host: str | None, port: int | None, only: tuple[str, ...]) -> None:
    """Prepare RabbitMQ and the database, then run web, worker, beat and Flower together."""
    from honcho.manager import Manager
    from honcho.printer import Printer
    from kombu import Connection

    from broker import bootstrap, declare, redact
    from jobs.store.migrate import upgrade

    web = _web_settings()
    settings = web.jobs
    if host is not None and (refusal := web.bind_refusal(host, "--host")):
        _fail(refusal, 2)
    host = host or web.host
    port = port or web.port
    Path("var").mkdir(exist_ok=True)
    try:
        bootstrap.ensure_rabbitmq(settings.broker, say=lambda m: click.echo(f"up: {m}"))
    except bootstrap.BootstrapError as exc:
        _fail(redact.text(str(exc)))
    click.echo("up: RabbitMQ reachable")
    upgrade(settings.database_url)
    click.echo(f"up: database ready ({_redact(settings.database_url)})")
    from broker.topology import describe

    try:
        with Connection(
            settings.broker.url,
            connect_timeout=settings.broker.connect_timeout,
            ssl=settings.broker.ssl_options or False,
        ) as conn:
            declare.declare(conn, describe(settings.broker))
    except (OSError, declare.TopologyError) as exc:
        where = redact.url(settings.broker.url)
        _fail(f"up: cannot declare the topology at {where}: {redact.text(str(exc))}")
    click.echo(f"up: topology declared ({', '.join(settings.broker.queues)} + DLQs)")
    web_url = f"http://{host}:{port}"
    click.echo(
        "\n  Beatkeeper UI    " + web_url + "/\n"
        "  API docs         " + web_url + "/api/docs\n"
        "  Flower           " + settings.flower_url + "/\n"
        "  RabbitMQ console " + web.rabbitmq_console_url + "\n"
        "  Ctrl-C stops everything.\n"
    )
    manager = Manager(Printer(sys.stdout, colour=sys.stdout.isatty(), prefix=True))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    commands = process_commands(web, python=sys.executable, host=host, port=port, only=only)
    for name, cmd in commands.items():
        manager.add_process(name, cmd, env=env)
    manager.loop()
    sys.exit(manager.returncode)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from jobs.store.migrate import upgrade

    settings = _jobs_settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {_redact(settings.database_url)} is at {revision}")


@main.command("jobs")
def list_jobs() -> None:
    """List registered jobs with their effective retry policies."""
    from jobs.factory import create_celery_app

    app = create_celery_app(_jobs_settings())
    for spec in sorted(app.registry, key=lambda s: s.name):
        task = app.tasks[spec.name]
        click.echo(
            f"{spec.name:20} queue={task.job_queue:24} policy={json.dumps(task.policy.describe())}"
        )


@main.command()
@click.argument("job")
@click.option("--kwargs", "kwargs_json", default="{}", help="arguments as a JSON object")
@click.option("--queue", default=None, help="short queue name (default: the job's)")
def enqueue(job: str, kwargs_json: str, queue: str | None) -> None:
    """Validate, record and publish one run of JOB; prints the run id."""
    from jobs.enqueue import Enqueuer
    from jobs.factory import create_celery_app
    from jobs.services.jobs import JobService

    try:
        kwargs = json.loads(kwargs_json)
    except json.JSONDecodeError as exc:
        _fail(f"--kwargs is not valid JSON: {exc}", 2)
    if not isinstance(kwargs, dict):
        _fail("--kwargs must be a JSON object", 2)
    app = create_celery_app(_jobs_settings())
    enqueuer = Enqueuer(app)
    try:
        run = JobService(app, enqueuer).enqueue(job, (), kwargs, queue)
    finally:
        enqueuer.stop()
    click.echo(run.id)


@main.command()
@click.argument("run_id")
def run(run_id: str) -> None:
    """Show one run as JSON."""
    from jobs.factory import create_celery_app

    record = create_celery_app(_jobs_settings()).store.get(run_id)
    if record is None:
        _fail(f"no run {run_id!r}", 1)
    click.echo(json.dumps(record.__dict__, default=str, indent=2))


from webapp import cli_cron  # noqa: E402, F401  (adds ``schedules check-cron``)
from webapp.cli_schedules import schedules  # noqa: E402  (registers the group)

main.add_command(schedules)

from webapp.cli_deadletters import dlq  # noqa: E402  (registers the group)

main.add_command(dlq)

from webapp.cli_beat import beat  # noqa: E402  (registers the group)

main.add_command(beat)

from webapp.cli_access import tokens, users  # noqa: E402  (registers the groups)

main.add_command(users)
main.add_command(tokens)
