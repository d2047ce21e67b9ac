"""A fast consumer for ``benchmarks/beat.py``: records when each message arrives.

    python -m benchmarks.beat_consumer BROKER_URL QUEUE OUT_FILE

py-amqp ``basic_consume`` with ``no_ack`` (nothing to acknowledge, no worker runs the
tasks). Every message becomes one tab-separated line in OUT_FILE::

    arrival_epoch  beatkeeper_schedule  beatkeeper_scheduled_for  celery_beat_task(0/1)

Prints ``READY`` once consuming; exits on SIGTERM/SIGINT after flushing.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import IO, Any

import amqp
from kombu.utils.url import parse_url

FLUSH_EVERY = 0.1  # seconds: how stale OUT_FILE may be while messages arrive


class Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.stop = False
        self.count = 0

    def on_message(self, message: amqp.Message) -> None:
        arrived = time.time()
        headers: dict[str, Any] = message.headers or {}
        schedule = headers.get("beatkeeper_schedule") or ""
        scheduled_for = headers.get("beatkeeper_scheduled_for") or ""
        celery = 1 if headers.get("celery_beat_task") else 0
        self.out.write(f"{arrived:.6f}\t{schedule}\t{scheduled_for}\t{celery}\n")
        self.count += 1

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop = True


def connect(url: str) -> amqp.Connection:
    parts = parse_url(url)
    conn = amqp.Connection(
        host=f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or 5672}",
        userid=parts["userid"] or "guest",
        password=parts["password"] or "guest",
        virtual_host=parts["virtual_host"] or "/",
        heartbeat=0,
    )
    conn.connect()
    return conn


def consume(url: str, queue: str, out: IO[str]) -> int:
    recorder = Recorder(out)
    signal.signal(signal.SIGTERM, recorder.on_signal)
    signal.signal(signal.SIGINT, recorder.on_signal)
    conn = connect(url)
    try:
        channel = conn.channel()
        channel.basic_qos(0, 10_000, False)
        channel.basic_consume(queue, no_ack=True, callback=recorder.on_message)
        print("READY", flush=True)
        last_flush = time.monotonic()
        while not recorder.stop:
            try:
                conn.drain_events(timeout=FLUSH_EVERY)
            except TimeoutError:
                pass
            except InterruptedError:
                continue
            if time.monotonic() - last_flush >= FLUSH_EVERY:
                out.flush()
                last_flush = time.monotonic()
    finally:
        out.flush()
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the broker may already be gone
            conn.collect()
    return recorder.count


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, queue, path = argv
    with open(path, "w", buffering=1 << 20) as out:
        consume(url, queue, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
