"""Who leads the beat, shown by the CLI (``beatkeeper beat status``) and the schedules page."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store import make_engine
from jobs.store.lease import LeaseStore
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings


def env(url: str) -> dict[str, str]:
    return settings_env("bk-beat-status", url, "amqp://guest:guest@127.0.0.1:1//")


def take_lease(url: str, owner: str) -> None:
    engine = make_engine(url)
    lease = LeaseStore(engine)
    fence = lease.try_acquire(owner, datetime.now(UTC), 60.0)
    assert fence is not None
    lease.renew(fence, datetime.now(UTC), 60.0, evaluated=True)
    engine.dispose()


def test_the_cli_says_no_beat_leads_with_exit_code_3_then_names_the_leader(
    free_sqlite_url: str,
) -> None:
    cli = CliRunner(env=env(free_sqlite_url))
    nobody = cli.invoke(main, ["beat", "status"])
    assert nobody.exit_code == 3 and "no beat leads" in nobody.output
    take_lease(free_sqlite_url, "host-a:123:abcdef")
    leading = cli.invoke(main, ["beat", "status"])
    assert leading.exit_code == 0, leading.output
    assert "beat leader host-a:123:abcdef since" in leading.output
    assert "last evaluated: never" not in leading.output
    as_json = cli.invoke(main, ["beat", "status", "--json"])
    assert '"leader": "host-a:123:abcdef"' in as_json.output


def test_the_schedules_page_shows_who_leads_the_beat(free_sqlite_url: str) -> None:
    settings = WebSettings(jobs=JobsSettings.from_env(env(free_sqlite_url)))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        assert "no beat leads" in client.get("/schedules").text
        take_lease(free_sqlite_url, "host-b:7:fedcba")
        assert "beat leader host-b:7:fedcba since" in client.get("/schedules").text
