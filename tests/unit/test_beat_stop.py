"""SIGTERM stops the beat at once, except inside a record-and-send transaction, where the
stop waits for the commit (so a stop never falls between a publish and its record)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from jobs.beat.scheduler import GracefulStop


@pytest.fixture
def stop() -> Iterator[GracefulStop]:
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    handler = GracefulStop()
    handler.install()
    yield handler
    signal.signal(signal.SIGTERM, saved[0])
    signal.signal(signal.SIGINT, saved[1])


def test_sigterm_outside_a_transaction_raises_system_exit_at_once(stop: GracefulStop) -> None:
    with pytest.raises(SystemExit):
        os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_inside_a_transaction_waits_for_its_end(stop: GracefulStop) -> None:
    committed = False
    with pytest.raises(SystemExit), stop.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        committed = True  # the work inside goes on to its end
    assert committed
