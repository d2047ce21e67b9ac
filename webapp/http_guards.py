"""What every HTTP request passes before the application sees it (outermost first).

- :class:`TrustedHosts`: a ``Host`` header that is not one of ``BEATKEEPER_ALLOWED_HOSTS``
  is a 400: a DNS-rebinding page (evil.example resolving to 127.0.0.1) never reaches the app.
- :class:`BodyLimit`: a body above ``BEATKEEPER_MAX_BODY_BYTES`` is a 413, from its
  ``Content-Length`` before anything is read, or while it streams (chunked): the request
  never holds more than the limit plus one chunk in memory, for the API and the Flask UI.
- :class:`SecurityHeaders`: Content-Security-Policy (our own origin only, no inline script),
  X-Frame-Options DENY, Referrer-Policy and X-Content-Type-Options on every response.

Every refusal has the API's one error body (``webapp/api/errors.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.api.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """``host`` (a Host header, port dropped) is one of ``allowed`` (``*.x`` for subdomains,
    ``*`` for any)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower()
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class TrustedHosts:
    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app, self.allowed = app, tuple(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not host_allowed(host, self.allowed):
                refused = error_response(
                    400, "this host name is not served here (BEATKEEPER_ALLOWED_HOSTS)"
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _refusal(self) -> ASGIApp:
        return error_response(
            413, f"request body larger than {self.max_bytes} bytes (BEATKEEPER_MAX_BODY_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refusal()(scope, receive, send)
            return
        seen, refused, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refusal()(scope, receive, send)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; whatever the app answers after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # The app may wrap _TooLarge in its own error (Flask through a2wsgi, FastAPI's
            # body parsing): once the 413 is out, any failure after it is that refusal.
            if not refused:
                raise


def policy_with(script_hashes: Sequence[str] = (), inline_styles: bool = False) -> str:
    """:data:`CSP` that also allows the inline scripts with these sha256 hashes (base64) and,
    if asked, inline styles: for a page we do not write ourselves (the API docs)."""
    policy = CSP
    if script_hashes:
        allowed = " ".join(f"'sha256-{h}'" for h in script_hashes)
        policy = policy.replace("script-src 'self'", f"script-src 'self' {allowed}")
    if inline_styles:
        policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return policy


class SecurityHeaders:
    """The headers of :data:`HEADERS` and :data:`CSP` on every response; a response that
    carries its own Content-Security-Policy (made with :func:`policy_with`) keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = {b"content-security-policy", *(h for h, _ in HEADERS)}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in own]
                policy = Headers(raw=message.get("headers", [])).get("content-security-policy")
                headers += [(b"content-security-policy", (policy or CSP).encode()), *HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
