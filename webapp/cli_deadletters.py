"""``beatkeeper dlq ...``: list, show, re-drive and purge dead-lettered messages.

Exit codes (``webapp/cli_common.py``): 2 for input that does not fit (no ids and no
``--all``, a purge refused at the prompt), 1 for an unknown queue or message or a broker
that cannot be reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from webapp.cli_common import Commands, _jobs_settings

if TYPE_CHECKING:  # imported lazily at run time: `beatkeeper --help` stays fast
    from jobs.services.deadletters import DeadLetterService


@click.group(cls=Commands)
def dlq() -> None:
    """Dead letters per work queue: list, show, re-drive, purge."""


def _service() -> DeadLetterService:
    from jobs.factory import create_celery_app
    from jobs.services.deadletters import DeadLetterService

    return DeadLetterService(create_celery_app(_jobs_settings()))


@dlq.command("list")
@click.argument("queue", required=False)
@click.option("--limit", default=100, show_default=True, help="at most this many messages")
def dlq_list(queue: str | None, limit: int) -> None:
    """Without QUEUE: each dead-letter queue and its count. With QUEUE: its oldest messages,
    one line each: message id (the run id), reason, job, deaths, run state and attempts."""
    service = _service()
    if queue is None:
        for view in service.queues():
            click.echo(f"{view.queue:16} {view.count:>7}  {view.dead_letter_queue}")
        return
    listing = service.list(queue, limit)
    for d in listing.letters:
        run = f"{d.run.state} attempts={d.run.attempts}" if d.run else "no run"
        click.echo(
            f"{d.id:40} {d.reason:15} {d.job or '-':24} deaths={d.death_count} "
            f"died={d.died_at or '-'} {run}"
        )
    shown = len(listing.letters)
    if listing.queue.count > shown:
        click.echo(f"({shown} of {listing.queue.count} shown; --limit for more)", err=True)


@dlq.command("show")
@click.argument("queue")
@click.argument("message_id")
def dlq_show(queue: str, message_id: str) -> None:
    """One message as JSON: headers, body, x-death, and its run with every attempt."""
    from webapp.api.deadletter_schemas import DeadLetterDetailOut

    service = _service()
    click.echo(
        DeadLetterDetailOut.detail(service.show(queue, message_id)).model_dump_json(indent=2)
    )


@dlq.command("redrive")
@click.argument("queue")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="re-drive every message of QUEUE")
def dlq_redrive(queue: str, message_ids: tuple[str, ...], everything: bool) -> None:
    """Publish MESSAGE_IDS (or --all) back to QUEUE; each run continues with a new attempt.

    Named ids are all or nothing: one not in the dead-letter queue and none is moved.
    """
    from jobs.services.deadletters import InvalidSelection

    if everything == bool(message_ids):
        raise InvalidSelection("ids", "give message ids or --all (not both)")
    service = _service()
    result = service.redrive(queue, None if everything else list(message_ids))
    for message_id in result.ids:
        click.echo(message_id)
    click.echo(
        f"re-driven {len(result.ids)} to {queue}; {len(result.runs_requeued)} run(s) PENDING",
        err=True,
    )


@dlq.command("purge")
@click.argument("queue")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def dlq_purge(queue: str, yes: bool) -> None:
    """Delete every message in QUEUE's dead-letter queue, for good (asks first)."""
    service = _service()
    if not yes:
        view = service.queue(queue)
        yes = click.confirm(
            f"Delete all {view.count} message(s) in {view.dead_letter_queue} for good?",
            default=False,
        )
    purged = service.purge(queue, confirm=yes)
    click.echo(f"purged {purged} message(s) from {queue}")
