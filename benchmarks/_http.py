"""A minimal asyncio HTTP/1.1 keep-alive client for load generation.

One TCP connection per concurrent worker, requests pre-encoded once, responses
parsed just far enough (status line, ``Content-Length``) to stay cheap on CPU: the
load generator shares two cores with the servers and RabbitMQ it measures.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"
_CONNECTION_CLOSE = b"\r\nconnection: close"


class ProtocolError(ValueError):
    """The server answered something this client does not parse (chunked, garbage)."""


def build_request(method: str, host: str, port: int, path: str, body: bytes = b"") -> bytes:
    """Encode one request; sent unchanged on every iteration."""
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: beatkeeper-bench\r\n"
        "Accept: */*\r\n"
        "Connection: keep-alive\r\n"
    )
    if body or method in ("POST", "PUT", "PATCH"):
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


class Connection:
    """One keep-alive connection; reconnects lazily after an error or ``Connection: close``."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _ensure(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        """Send ``payload`` (a whole encoded request); return (status, body)."""
        # asyncio.timeout, not wait_for: no task per request, and on Python 3.11 wait_for
        # can swallow a cancellation (Ctrl-C) that races with the request completing.
        try:
            async with asyncio.timeout(self.timeout):
                return await self._request(payload)
        except BaseException:
            self.close()
            raise

    async def _request(self, payload: bytes) -> tuple[int, bytes]:
        reader, writer = await self._ensure()
        writer.write(payload)
        head = await reader.readuntil(_HEADER_END)
        if not head.startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP response: {head[:40]!r}")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(_CONTENT_LENGTH)
        if start >= 0:
            start += len(_CONTENT_LENGTH)
            length = int(lower[start : lower.index(b"\r\n", start)])
        elif b"\r\ntransfer-encoding:" in lower:
            raise ProtocolError("chunked responses are not supported")
        else:
            length = 0
        body = await reader.readexactly(length) if length else b""
        if _CONNECTION_CLOSE in lower or head.startswith(b"HTTP/1.0"):
            self.close()
        return status, body

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()


@dataclass
class LoadResult:
    """What one measured phase produced; latencies are seconds, successful requests only."""

    concurrency: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    def note_error(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what


async def _worker(
    host: str, port: int, payload: bytes, deadline: float, result: LoadResult
) -> None:
    conn = Connection(host, port)
    clock = time.perf_counter
    latencies = result.latencies
    try:
        while clock() < deadline:
            started = clock()
            try:
                status, body = await conn.request(payload)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
                ValueError,  # ProtocolError, or a status line that is not a number
            ) as exc:
                result.note_error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)  # do not spin on a dead server
                continue
            if 200 <= status < 300:
                latencies.append(clock() - started)
            else:
                result.note_error(f"HTTP {status}: {body[:200]!r}")
    finally:
        conn.close()


async def run_load(
    host: str, port: int, payload: bytes, *, concurrency: int, seconds: float
) -> LoadResult:
    """Keep ``concurrency`` requests in flight for ``seconds``; closed loop, no think time."""
    result = LoadResult(concurrency)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(host, port, payload, deadline, result) for _ in range(concurrency))
    )
    result.elapsed = time.perf_counter() - started
    return result


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (which need not be sorted); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]
