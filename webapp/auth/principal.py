"""The principal: who is making this request, what they may do, and who the audit log
says made a change (:meth:`Principal.actor`, the one place every API route, UI action and
CLI command gets it from)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from jobs.store.audit import with_claim
from webapp.auth.permissions import Action, Role, Scope, role_allows, scopes_allow


@dataclass(frozen=True)
class Principal:
    """A signed-in user (``role`` set, ``token_id`` None) or an API token (``token_id`` and
    ``scopes`` set, ``role`` None). ``authenticated`` is False only for the open local
    principal of development without ``BEATKEEPER_AUTH``."""

    name: str
    role: Role | None
    scopes: frozenset[Scope]
    token_id: int | None = None
    authenticated: bool = True

    def may(self, action: Action) -> bool:
        if action is Action.PUBLIC:
            return True
        if self.token_id is not None:
            return scopes_allow(self.scopes, action)
        return self.role is not None and role_allows(self.role, action)

    @property
    def kind(self) -> str:
        return "token" if self.token_id is not None else "user"

    def actor(self, claimed: str | None = None) -> str:
        """Who made a change, for the audit log: this principal's name (never what the client
        says). A ``changed_by`` the client claims is kept only as a note beside it,
        ``"ann (claimed: bob)"``, so a caller cannot write someone else's name."""
        return with_claim(self.name, claimed)


# Development without BEATKEEPER_AUTH: the web app listens on loopback only and asks nobody.
# Its name says so in the audit log rather than pretending to be someone.
LOCAL = Principal(
    name="anonymous@loopback", role=Role.ADMIN, scopes=frozenset(Scope), authenticated=False
)


def cli_principal() -> Principal:
    """The command line: whoever can run it can reach the database, so it may do anything;
    the audit log names the operating-system user (``cli:alice``)."""
    try:
        user = getpass.getuser()
    except OSError:  # no USER variable and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    return Principal(name=f"cli:{user}", role=Role.ADMIN, scopes=frozenset(Scope))
