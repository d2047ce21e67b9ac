"""Schedules in bulk: import validates every item first, then writes all or nothing; export
writes what import reads, so schedules move between environments.

The format is JSON lines (one schedule object per line, blank lines ignored) or one JSON
array of objects. Each object has the fields of the shared input model
(``jobs.schedules.inputs.ScheduleInput``), parsed exactly as the API, the UI and the CLI do.
Every problem is reported at once, each as ``line N.FIELD`` (for an array, N is the item's
position, from 1). A name that already exists, or comes twice, is a problem of its line:
an import creates schedules, it never edits one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from jobs import jsontext
from jobs.errors import FieldError, Invalid
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.inputs import ScheduleInput
from jobs.schedules.kinds import TriggerKind
from jobs.services.schedules import ScheduleError, ScheduleManager
from jobs.store.schedule_bulk import create_many, names_taken
from jobs.store.schedules import ScheduleRecord

# What an export writes: the definition (the stored anchor is added for interval schedules).
FIELDS = tuple(f.name for f in fields(ScheduleDefinition) if f.name != "anchor")
MAX_ERRORS = 1000  # a file of 100,000 bad lines is reported by its first thousand problems


class ImportInvalid(Invalid):
    """The import was refused; ``errors`` names each bad line and field. Nothing stored."""


def parse_items(text: str) -> list[tuple[int, Any]]:
    """``(line, value)`` per schedule: a JSON array, or one JSON value per non-blank line."""
    if text.lstrip().startswith("["):
        try:
            values = jsontext.loads(text, jsontext.MAX_DEPTH + 1)  # the array is one level
        except jsontext.JSONTextError as exc:
            raise ImportInvalid([{"field": "body", "message": str(exc)}]) from None
        return list(enumerate(values, start=1))
    items, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, jsontext.loads(line)))
        except jsontext.JSONTextError as exc:
            errors.append({"field": f"line {number}", "message": str(exc)})
    if errors:
        raise ImportInvalid(errors[:MAX_ERRORS])
    return items


def _at(line: int, errors: Sequence[FieldError]) -> list[FieldError]:
    return [{"field": f"line {line}.{e['field']}", "message": e["message"]} for e in errors]


def import_schedules(
    manager: ScheduleManager, text: str, by: str, reason: str | None = None
) -> int:
    """Create every schedule in ``text``, or none: ImportInvalid names every bad line."""
    now = manager.clock()
    checked: list[tuple[ScheduleDefinition, datetime | None]] = []
    lines: dict[str, int] = {}
    errors: list[FieldError] = []
    for line, raw in parse_items(text):
        if len(errors) >= MAX_ERRORS:
            break
        if not isinstance(raw, dict):
            errors.append({"field": f"line {line}", "message": "must be a JSON object"})
            continue
        try:
            definition, trigger = manager.check(ScheduleInput.read(raw), now)
        except ScheduleError as exc:
            errors += _at(line, exc.errors)
            continue
        if definition.name in lines:
            errors.append(
                {"field": f"line {line}.name", "message": f"also on line {lines[definition.name]}"}
            )
            continue
        lines[definition.name] = line
        checked.append((definition, manager.next_fire(definition, trigger, now)))
    with manager.store.engine.connect() as conn:
        taken = names_taken(conn, list(lines))
    errors += [
        {"field": f"line {lines[name]}.name", "message": "a schedule with this name exists"}
        for name, deleted in taken.items()
        if not deleted
    ]
    if errors:
        errors.sort(key=lambda e: int(e["field"].split()[1].split(".")[0]))
        raise ImportInvalid(errors[:MAX_ERRORS])
    limit = manager.app.settings.max_schedules
    return create_many(manager.store, checked, now=now, by=by, reason=reason, max_live=limit)


def export_item(record: ScheduleRecord) -> dict[str, Any]:
    """One schedule as the input model reads it: its definition, nothing the beat keeps."""
    item = {k: getattr(record, k) for k in FIELDS if getattr(record, k) is not None}
    if record.trigger == TriggerKind.INTERVAL:
        item["anchor"] = record.anchor  # the grid's phase moves with the schedule
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in item.items()}


def export_lines(manager: ScheduleManager, page: int = 1000) -> Iterator[str]:
    """Every live schedule as a JSON line, by name."""
    offset = 0
    while records := manager.page(page, offset):
        for record in records:
            yield json.dumps(export_item(record), sort_keys=True)
        offset += len(records)
