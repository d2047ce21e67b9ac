"""What pytest-celery asks of a container, answered by a local process instead of Docker.

pytest-celery's nodes (``CeleryTestWorker``, ``RabbitMQTestBroker``) and clusters only call
a small surface of their container (pytest_celery/api/base.py, api/worker.py): ``name``,
``id``, ``status``, ``ready()``, ``logs()``, ``kill(signal=...)``, ``reload()``,
``restart(timeout=...)``, ``teardown()``, ``exec_run(cmd)`` and ``celeryconfig``. A cluster
accepts only ``CeleryTestContainer`` instances, so these classes subclass it, but never
call its ``__init__``: pytest_docker_tools' ``Container.__init__`` wants a Docker object.
"""

from __future__ import annotations

import os
import shlex
import signal as signals
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from pytest_celery import CeleryTestContainer

from tests.support.waiting import wait_for

RUNNING = "running"
EXITED = "exited"


def as_signal(value: str | int) -> int:
    """``"SIGKILL"``, ``"KILL"``, ``9`` -> 9 (Docker accepts all three)."""
    if isinstance(value, int):
        return value
    name = value.upper()
    return int(signals.Signals[name if name.startswith("SIG") else f"SIG{name}"])


class LocalContainer(CeleryTestContainer):
    """Common identity, logs and ``exec_run`` of a process-backed container."""

    def _init_local(self, kind: str, workdir: Path, env: dict[str, str]) -> None:
        self._id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like Docker's
        self._name = f"{kind}-{self._id[:8]}"
        self.workdir = workdir
        self.environment = env
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cwd = self.workdir  # where exec_run runs (a worker: its volume, like WORKDIR /app)
        self.log_path = self.workdir / f"{self._name}.log"
        self.log_path.touch()
        self._run_log_start = 0  # where the current run's output begins in the log
        self._torn_down = False

    # -- identity (Docker-like) --------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def attrs(self) -> dict[str, Any]:
        return {"Config": {"Hostname": self._id[:12], "Env": self.environment}}

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def status(self) -> str:
        return RUNNING if self.is_running() else EXITED

    def is_running(self) -> bool:
        raise NotImplementedError

    def reload(self) -> None:
        """Docker refreshes its cached state here; a process has none to refresh."""

    # -- logs ---------------------------------------------------------------------
    def logs(self) -> str:
        """Everything every run of this container printed, like ``docker logs``."""
        return self.log_path.read_text(errors="replace")

    def current_logs(self) -> str:
        """Only what the current run printed (a restart must not match the old run's lines)."""
        with self.log_path.open("rb") as log:
            log.seek(self._run_log_start)
            return log.read().decode(errors="replace")

    def _mark_new_run(self) -> None:
        self._run_log_start = self.log_path.stat().st_size

    def wait_for_current_log(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            if text in self.current_logs():
                return True
            if not self.is_running():
                tail = self.current_logs()[-3000:]
                raise RuntimeError(f"{self.name} exited before logging {text!r}:\n{tail}")
            return False

        wait_for(seen, timeout=timeout, interval=0.1)

    def exec_run(self, cmd: str | list[str], **_: Any) -> tuple[int, bytes]:
        """Run a command in the container's directory and environment (``python``: ours)."""
        if isinstance(cmd, str) and cmd.startswith("python "):
            cmd = f"{shlex.quote(sys.executable)} {cmd[len('python ') :]}"
        elif isinstance(cmd, list) and cmd[:1] == ["python"]:
            cmd = [sys.executable, *cmd[1:]]
        done = subprocess.run(
            cmd,
            shell=isinstance(cmd, str),
            cwd=self.cwd,
            env={**os.environ, **self.environment},
            capture_output=True,
        )
        return done.returncode, done.stdout + done.stderr
