"""The principal: who is making this request, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

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


# Development without BEATKEEPER_AUTH: the web app listens on loopback only and asks nobody.
LOCAL = Principal(name="local", role=Role.ADMIN, scopes=frozenset(Scope), authenticated=False)
