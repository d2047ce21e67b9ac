"""A Celery worker "container" that is a real ``python -m celery ... worker`` process.

It runs whatever the container class says (``command()``, ``initial_env()`` and
``initial_content()`` of pytest-celery's ``CeleryWorkerContainer`` or a subclass): the
volume's files are written to a directory of their own, ``PYTHONPATH=/app`` points there,
``%h`` in the node name becomes ``id[:12]`` as a container's hostname would. The worker runs in
its own session, so ``kill()`` signals the whole process group: the pool processes die with
their parent, as a container's children die with its PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_celery import CeleryWorkerContainer

from tests.support.celery_local.process import LocalContainer, as_signal

ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT = 60.0


def _argv(command: list[str], hostname: str) -> list[str]:
    head, *rest = command
    if head == "celery":
        prefix = [sys.executable, "-m", "celery"]
    elif head in {"python", "python3"}:
        prefix = [sys.executable]
    else:
        prefix = [head]
    return [*prefix, *(arg.replace("%h", hostname) for arg in rest)]


class LocalWorkerProcess(LocalContainer):
    """Process behaviour put in front of a ``CeleryWorkerContainer`` class (``local_worker``)."""

    _process: subprocess.Popen[bytes] | None = None

    def _init_worker(
        self, workdir: Path, command: list[str], env: dict[str, str], content: dict[str, Any]
    ) -> None:
        # The volume a container mounts at /app; also the working directory, as there.
        app_dir = workdir / "volume"
        python_path = [str(app_dir), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**env, "PYTHONPATH": os.pathsep.join(python_path)}
        self._init_local("celery-worker", workdir, env)
        self._write_volume(app_dir, content)
        self.app_dir = self.cwd = app_dir
        self._argv = _argv(command, self.id[:12])

    @staticmethod
    def _write_volume(app_dir: Path, content: dict[str, Any]) -> None:
        app_dir.mkdir(parents=True, exist_ok=True)
        for relative, data in content.items():
            path = app_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data if isinstance(data, bytes) else str(data).encode())

    # -- lifecycle ----------------------------------------------------------------
    def start(self, timeout: float = READY_TIMEOUT) -> None:
        self._mark_new_run()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._argv,
                cwd=self.app_dir,
                env={**os.environ, **self.environment},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for_current_log(self.ready_prompt or "ready.", timeout)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ready(self) -> bool:
        return self.is_running() and (self.ready_prompt or "") in self.current_logs()

    def kill(self, signal: str | int = "SIGKILL", **_: Any) -> None:
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, as_signal(signal))
        if as_signal(signal) == signals.SIGKILL:
            self._process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL after ``timeout``, like docker stop."""
        if self._process is None:
            return
        if self.is_running():
            self.kill("SIGTERM")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)
        self.kill("SIGKILL")  # also reaps pool processes that outlived their parent

    def restart(self, timeout: float = 10.0, **_: Any) -> None:
        self.stop(timeout)
        self.start()

    def teardown(self) -> None:
        """The test is over and its vhost and run store go with it: no warm shutdown to wait
        for (it takes seconds), the process group is killed, as ``docker rm -f`` would."""
        if not self._torn_down:
            self._torn_down = True
            self.kill("SIGKILL")


def local_worker(
    container_cls: type[CeleryWorkerContainer],
    workdir: Path,
    command: list[str],
    env: dict[str, str],
    content: dict[str, Any],
) -> CeleryWorkerContainer:
    """Start a worker process for ``container_cls`` and wait for its ``ready.`` line.

    The returned object is an instance of ``container_cls`` (its class methods describe the
    worker) with process behaviour in front, so a cluster accepts it as a container.
    """
    local_cls: Any = type(f"Local{container_cls.__name__}", (LocalWorkerProcess, container_cls), {})
    container: Any = local_cls.__new__(local_cls)  # no Docker __init__ (module docstring)
    container._init_worker(workdir, command, env, content)
    try:
        container.start()
    except BaseException:
        container.teardown()
        raise
    result: CeleryWorkerContainer = container
    return result
