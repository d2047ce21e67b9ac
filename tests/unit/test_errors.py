"""The exception tree: every error raised on purpose has one kind, and each front end maps
the kind once (HTTP status, page status, exit code)."""

from __future__ import annotations

import pytest

from jobs.enqueue import EnqueueError
from jobs.errors import BeatkeeperError, Conflict, Invalid, NotFound, Unavailable
from jobs.registry import ArgumentsError, UnknownJobError
from jobs.schedules.definition import ScheduleError
from jobs.schedules.triggers import TriggerError
from jobs.services.jobs import RunNotFoundError, UnknownQueueError
from jobs.services.schedules import BackfillStopped
from jobs.store.schedules import ScheduleExistsError, ScheduleNotFoundError
from webapp.api.errors import status_of
from webapp.cli_common import exit_code
from webapp.ui.errors import messages
from webapp.ui.errors import status_of as page_status_of

ERRORS: list[tuple[BeatkeeperError, type[BeatkeeperError], int, int]] = [
    (ScheduleNotFoundError("no schedule 'x'"), NotFound, 404, 1),
    (RunNotFoundError("no run 'x'"), NotFound, 404, 1),
    (UnknownJobError("x", ["a"]), NotFound, 404, 2),
    (ScheduleExistsError("schedule 'x' already exists"), Conflict, 409, 1),
    (ScheduleError([{"field": "cron", "message": "bad"}]), Invalid, 422, 2),
    (ArgumentsError("job", [{"field": "hours", "message": "bad"}]), Invalid, 422, 2),
    (UnknownQueueError("unknown queue 'q'"), Invalid, 422, 2),
    (TriggerError("cron", "bad"), Invalid, 422, 2),
    (EnqueueError("connection refused"), Unavailable, 503, 1),
    (BackfillStopped("connection refused"), Unavailable, 503, 1),
]


@pytest.mark.parametrize(("error", "kind", "status", "code"), ERRORS, ids=lambda e: repr(e))
def test_each_error_has_one_kind_that_gives_its_status_and_exit_code(
    error: BeatkeeperError, kind: type[BeatkeeperError], status: int, code: int
) -> None:
    assert isinstance(error, kind)
    assert status_of(error) == page_status_of(error) == status
    assert exit_code(error) == code


def test_invalid_input_names_every_field_and_other_errors_get_one_line_on_a_page() -> None:
    invalid = ScheduleError(
        [{"field": "cron", "message": "bad"}, {"field": "timezone", "message": "unknown"}]
    )
    assert [e["field"] for e in invalid.errors] == ["cron", "timezone"]
    assert invalid.detail == "invalid schedule: cron: bad; timezone: unknown"
    assert messages(EnqueueError("refused")) == [
        {"field": "broker", "message": "not sent, nothing stored: refused"}
    ]
    backfill = BackfillStopped("refused").detail
    assert backfill.startswith("backfill stopped: refused; fires already sent stay sent")


def test_errors_keep_their_old_builtin_bases_so_existing_handlers_still_catch_them() -> None:
    assert isinstance(ScheduleError([]), ValueError)
    assert isinstance(ScheduleNotFoundError("x"), LookupError)
    assert isinstance(EnqueueError("x"), RuntimeError)
    assert isinstance(TriggerError("cron", "bad"), ValueError)
