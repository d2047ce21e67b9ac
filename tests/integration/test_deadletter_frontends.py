"""Dead letters from the API, the pages and the CLI, on the real RabbitMQ with a real worker."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.services.deadletters import DeadLetterService
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support import testjobs
from tests.support.waiting import wait_for
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enqueuer(
    celery_session_app: BeatkeeperCelery, celery_session_worker: Any
) -> Iterator[Enqueuer]:
    enq = Enqueuer(celery_session_app)
    yield enq
    enq.stop()


@pytest.fixture
def service(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> Iterator[DeadLetterService]:
    svc = DeadLetterService(celery_session_app)
    svc.purge("default", confirm=True)
    yield svc
    svc.purge("default", confirm=True)


@pytest.fixture
def client(
    celery_session_app: BeatkeeperCelery, jobs_settings: JobsSettings, service: DeadLetterService
) -> Iterator[TestClient]:
    with TestClient(create_app(WebSettings(jobs=jobs_settings), celery_session_app)) as c:
        yield c


@pytest.fixture
def cli(jobs_settings: JobsSettings, database_url: str, service: DeadLetterService) -> CliRunner:
    return CliRunner(env=settings_env(jobs_settings.broker.prefix, database_url))


def dead_lettered(service: DeadLetterService, enqueuer: Enqueuer, n: int) -> list[str]:
    ids = [enqueuer.enqueue("fails_until_released", {"key": uuid.uuid4().hex}).id for _ in range(n)]
    wait_for(lambda: service.queue("default").count >= n)
    # The run rows say so too: the outbox writes the failed attempt in its own batch.
    store = enqueuer.app.store

    def failed_once(run_id: str) -> bool:
        record = store.get(run_id)
        return (
            record is not None
            and record.state == "FAILURE"
            and [a.outcome for a in record.history] == ["FAILURE"]
        )

    for run_id in ids:
        wait_for(partial(failed_once, run_id))
    return ids


def release(app: BeatkeeperCelery, run_id: str) -> None:
    record = app.store.get(run_id)
    assert record is not None
    testjobs.release(record.kwargs["key"])


def succeeded_with_a_new_attempt(app: BeatkeeperCelery, run_id: str) -> None:
    record = wait_for(lambda: (r := app.store.get(run_id)) is not None and r.done and r)
    assert record.state == "SUCCESS"
    assert [a.outcome for a in record.history] == ["FAILURE", "SUCCESS"]


def test_the_api_lists_shows_redrives_and_purges_dead_letters(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    service: DeadLetterService,
    client: TestClient,
) -> None:
    first, second, third = dead_lettered(service, enqueuer, 3)

    queues = {q["queue"]: q for q in client.get("/api/deadletters").json()}
    assert queues["default"]["count"] == 3
    listing = client.get("/api/deadletters/default").json()
    assert [m["id"] for m in listing["messages"]] == [first, second, third]
    assert {(m["reason"], m["run_state"], m["run_attempts"]) for m in listing["messages"]} == {
        ("rejected", "FAILURE", 1)
    }
    shown = client.get(f"/api/deadletters/default/messages/{first}").json()
    assert shown["x_death"][0]["reason"] == "rejected"
    assert shown["headers"]["task"] == "fails_until_released"
    assert shown["run"]["history"][0]["outcome"] == "FAILURE"
    assert client.get("/api/deadletters/default/messages/nope").status_code == 404

    release(celery_session_app, first)
    one = client.post(f"/api/deadletters/default/messages/{first}/redrive")
    assert one.status_code == 200 and one.json()["redriven"] == [first]
    succeeded_with_a_new_attempt(celery_session_app, first)

    refused = client.post("/api/deadletters/default/redrive", json={"ids": [second, "nope"]})
    assert refused.status_code == 404 and "nope" in refused.json()["detail"]
    release(celery_session_app, second)
    release(celery_session_app, third)
    both = client.post("/api/deadletters/default/redrive", json={"ids": [second, third]})
    assert sorted(both.json()["redriven"]) == sorted([second, third])
    succeeded_with_a_new_attempt(celery_session_app, second)
    succeeded_with_a_new_attempt(celery_session_app, third)

    dead_lettered(service, enqueuer, 2)
    assert client.post("/api/deadletters/default/purge", json={}).status_code == 422
    assert service.queue("default").count == 2
    purged = client.post("/api/deadletters/default/purge", json={"confirm": True})
    assert purged.json() == {"queue": "default", "purged": 2}


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page carries a form token"
    return match.group(1)


def test_the_pages_list_show_redrive_and_purge_only_after_a_confirm_step(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    service: DeadLetterService,
    client: TestClient,
) -> None:
    first, second = dead_lettered(service, enqueuer, 2)

    index = client.get("/deadletters")
    assert index.status_code == 200 and "default" in index.text
    page = client.get("/deadletters/default")
    assert first in page.text and second in page.text and "rejected" in page.text
    run_page = client.get(f"/runs/{first}").text
    assert f'href="/deadletters/default/messages/{first}"' in run_page
    detail = client.get(f"/deadletters/default/messages/{first}")
    assert detail.status_code == 200 and "fails_until_released" in detail.text

    release(celery_session_app, first)
    token = csrf(page.text)
    redriven = client.post("/deadletters/default/redrive", data={"csrf": token, "ids": [first]})
    assert redriven.status_code == 200 and "re-driven 1 message" in redriven.text
    succeeded_with_a_new_attempt(celery_session_app, first)

    # A purge form without the confirm step's field purges nothing.
    client.post("/deadletters/default/purge", data={"csrf": token})
    assert service.queue("default").count == 1
    confirm = client.get("/deadletters/default/purge")
    assert "Yes, purge 1 message" in confirm.text
    purged = client.post(
        "/deadletters/default/purge", data={"csrf": csrf(confirm.text), "confirm": "yes"}
    )
    assert "purged 1 message" in purged.text
    assert service.queue("default").count == 0


def test_the_cli_lists_shows_redrives_and_purges_with_a_prompt(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    service: DeadLetterService,
    cli: CliRunner,
) -> None:
    first, second = dead_lettered(service, enqueuer, 2)

    counts = cli.invoke(main, ["dlq", "list"])
    assert counts.exit_code == 0 and re.search(r"default\s+2", counts.stdout), counts.output
    listing = cli.invoke(main, ["dlq", "list", "default"])
    assert [line.split()[0] for line in listing.stdout.splitlines()] == [first, second]
    assert "rejected" in listing.stdout and "FAILURE attempts=1" in listing.stdout
    shown = cli.invoke(main, ["dlq", "show", "default", first])
    assert shown.exit_code == 0 and '"reason": "rejected"' in shown.stdout
    assert cli.invoke(main, ["dlq", "show", "default", "nope"]).exit_code == 1

    release(celery_session_app, first)
    redriven = cli.invoke(main, ["dlq", "redrive", "default", first])
    assert redriven.exit_code == 0 and redriven.stdout.split() == [first]
    succeeded_with_a_new_attempt(celery_session_app, first)

    declined = cli.invoke(main, ["dlq", "purge", "default"], input="n\n")
    assert declined.exit_code == 2 and service.queue("default").count == 1
    accepted = cli.invoke(main, ["dlq", "purge", "default"], input="y\n")
    assert accepted.exit_code == 0 and "purged 1" in accepted.stdout
    assert service.queue("default").count == 0
