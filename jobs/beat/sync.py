"""Put schedules declared in code into the store, without clobbering runtime edits.

The rule, per declared schedule:
- not in the store: created (source ``code``), enabled;
- in the store, declared in code and never edited at runtime: its definition follows
  the code (enabled/paused is runtime state and is kept as it is);
- edited at runtime (API, UI, CLI) or deleted at runtime: left alone, the code
  definition is not applied (``beatkeeper schedules reset NAME`` re-applies it).
Schedules that disappear from code are left in the store and reported.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from jobs.celery_app import BeatkeeperCelery
from jobs.schedules.definition import ScheduleDefinition, ScheduleError, next_nominal
from jobs.schedules.triggers import on_same_grid
from jobs.schedules.validation import validate
from jobs.store.schedules import ScheduleNotFoundError, ScheduleStore

log = logging.getLogger(__name__)


def sync_code_schedules(
    app: BeatkeeperCelery, store: ScheduleStore, now: datetime
) -> dict[str, list[str]]:
    """Apply the rule above; returns names per outcome (created, updated, kept, invalid)."""
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "kept": [], "invalid": []}
    queues = list(app.settings.broker.queues)
    for declared in app.registry.schedules:
        try:
            definition, trigger = validate(
                ScheduleDefinition(**declared), app.registry, queues, now, check_run_at=False
            )
        except (ScheduleError, TypeError) as exc:
            log.error("schedule %s declared in code is invalid: %s", declared.get("name"), exc)
            outcome["invalid"].append(str(declared.get("name")))
            continue
        try:
            current = store.get(definition.name, include_deleted=True)
        except ScheduleNotFoundError:
            store.create(
                definition,
                next_fire_at=next_nominal(trigger, definition.name, definition.jitter_seconds, now),
                now=now,
                by="code",
                reason="declared in code",
                source="code",
            )
            outcome["created"].append(definition.name)
            continue
        if current.source != "code" or current.edited_at is not None or current.deleted:
            outcome["kept"].append(definition.name)
            continue
        definition = replace(definition, enabled=current.enabled)
        if (
            definition.anchor is not None
            and definition.interval_seconds is not None
            and (current.trigger, current.interval_seconds)
            == (definition.trigger, definition.interval_seconds)
            and on_same_grid(definition.anchor, current.anchor, definition.interval_seconds)
        ):
            # A declared anchor is stored as a grid point that moves with the clock; the
            # same grid is no change.
            definition = replace(definition, anchor=None)
        if definition != current.definition():
            store.update(
                definition,
                next_fire_at=next_nominal(trigger, definition.name, definition.jitter_seconds, now),
                now=now,
                by="code",
                reason="code definition changed",
                runtime_edit=False,
            )
            outcome["updated"].append(definition.name)
        else:
            outcome["kept"].append(definition.name)
    if any(outcome.values()):
        log.info("code schedules: %s", {k: len(v) for k, v in outcome.items()})
    return outcome
