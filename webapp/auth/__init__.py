"""Who may do what, once for the UI and the API.

- ``permissions.py``: roles (viewer < operator < admin), token scopes (read, enqueue,
  schedules, admin) and the table of actions: the role and the scope each one needs.
- ``principal.py``: :class:`Principal` (``name``, ``role``, ``scopes``, ``token_id``):
  a signed-in user or an API token; ``LOCAL`` is open development without auth.
- ``gate.py``: credentials (bearer token, then the UI's session cookie) to a principal.
- ``accounts.py``: users (argon2id passwords) and tokens (SHA-256, shown once), for the CLI
  and the admin page; ``jobs/store/identity.py`` keeps them.

``current_principal`` in both frameworks:

- FastAPI: ``from webapp.auth.api import allow, current_principal``; a route declares
  ``dependencies=[allow(Action.X)]`` and, if it needs to know who called,
  ``principal: Annotated[Principal, Depends(current_principal)]`` (resolved once per request).
- Flask: ``from webapp.auth.ui import current_principal, requires``; a view is decorated
  ``@requires(Action.X)`` (under its route) and calls ``current_principal()`` in the request.

Outside development (``BEATKEEPER_ENV`` other than development/test) or with
``BEATKEEPER_AUTH=true``, every page and route needs credentials except ``/livez``, the
login page and static assets; ``principal.authenticated`` is False only for ``LOCAL``.
``principal.name`` is the user's name, or ``token:NAME`` for an API token.
``principal.actor(changed_by)`` is who the audit log records for a change: every API route,
UI action and (with ``cli_principal()``, ``cli:<OS user>``) CLI command asks it, never the
client's ``changed_by``, which is only noted beside it.
"""
