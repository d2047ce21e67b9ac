"""Who may do what: every action a page or route offers, the least role a signed-in user
needs for it and the scope an API token needs for it, in one table.

Roles nest: a viewer reads everything except secrets (users and tokens); an operator is a
viewer who also enqueues, runs schedules now, pauses, resumes, re-drives dead letters and
retries or cancels runs; an admin is an operator who also creates, edits, deletes and
imports schedules, purges dead letters and manages users and tokens. Token scopes do not
nest, except that ``admin`` allows everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Scope(StrEnum):
    READ = "read"
    ENQUEUE = "enqueue"
    SCHEDULES = "schedules"
    ADMIN = "admin"


class Action(StrEnum):
    """What a route does, as far as permissions go. Each page and route names exactly one."""

    PUBLIC = "public"  # the login page, the liveness probe, static assets: no credentials
    READ = "read"  # every page and GET route that shows runs, jobs, schedules, dead letters
    ENQUEUE = "enqueue"  # enqueue a job
    RUN_SCHEDULE = "run_schedule"  # run a schedule now, backfill its missed fires
    PAUSE_SCHEDULE = "pause_schedule"  # pause, resume, reset a schedule
    REDRIVE = "redrive"  # move dead letters back to their work queue
    CONTROL_RUNS = "control_runs"  # retry or cancel a run
    EDIT_SCHEDULES = "edit_schedules"  # create, edit, delete, import schedules
    PURGE = "purge"  # delete dead letters for good
    MANAGE_ACCESS = "manage_access"  # users and API tokens (the secrets a viewer never sees)


@dataclass(frozen=True)
class Rule:
    role: Role
    scope: Scope


RULES: dict[Action, Rule] = {
    Action.READ: Rule(Role.VIEWER, Scope.READ),
    Action.ENQUEUE: Rule(Role.OPERATOR, Scope.ENQUEUE),
    Action.RUN_SCHEDULE: Rule(Role.OPERATOR, Scope.ENQUEUE),
    Action.PAUSE_SCHEDULE: Rule(Role.OPERATOR, Scope.SCHEDULES),
    Action.REDRIVE: Rule(Role.OPERATOR, Scope.ENQUEUE),
    Action.CONTROL_RUNS: Rule(Role.OPERATOR, Scope.ENQUEUE),
    Action.EDIT_SCHEDULES: Rule(Role.ADMIN, Scope.SCHEDULES),
    Action.PURGE: Rule(Role.ADMIN, Scope.ADMIN),
    Action.MANAGE_ACCESS: Rule(Role.ADMIN, Scope.ADMIN),
}


def role_allows(role: Role, action: Action) -> bool:
    return action is Action.PUBLIC or role.rank >= RULES[action].role.rank


def scopes_allow(scopes: frozenset[Scope], action: Action) -> bool:
    if action is Action.PUBLIC or Scope.ADMIN in scopes:
        return True
    return RULES[action].scope in scopes
