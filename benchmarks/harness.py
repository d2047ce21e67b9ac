"""What every benchmark needs: child processes, free ports, a workspace, the machine it ran on,
and who used the CPU while it ran (psutil).

The machine is shared (2 cores here), so every measurement also reports how busy the rest of
the machine was; numbers taken while "others" is high are disturbed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

import psutil
from kombu import Connection as AmqpConnection

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
QUIET_PCT = 25.0  # background CPU (% of one core) above which the machine counts as busy


# -- processes and ports --------------------------------------------------------------------
class Process:
    """A child in its own session (Ctrl-C reaches only us); stopped by its process group.

    It runs from the repository root, so ``python -m benchmarks.x`` and ``-A jobs`` resolve.
    """

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``timeout``."""
        try:
            if self.popen.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.popen.wait(5)
            # Children (pool processes) may outlive their parent: end the group anyway.
            self._signal_group(signal.SIGKILL)
        finally:
            self._log_file.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def workspace(keep: bool, prefix: str = "bk-bench-") -> Iterator[Path]:
    """A temporary folder for logs and databases, removed at the end unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    finally:
        if keep:
            print(f"logs and databases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# -- the machine ----------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    return float(psutil.virtual_memory().total) / 2**30


def versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "unknown"
    return f"{head or '?'}" + (f" + {len(dirty)} modified files" if dirty else "")


def rabbitmq_version(broker_url: str) -> str:
    try:
        with AmqpConnection(broker_url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=0)
            props = conn.connection.server_properties
    except Exception as exc:  # noqa: BLE001 - informational only
        return f"unknown ({type(exc).__name__})"
    version = props.get("version", "?")
    version = version.decode() if isinstance(version, bytes) else str(version)
    erlang = props.get("platform", "")
    erlang = erlang.decode() if isinstance(erlang, bytes) else str(erlang)
    return f"{version} ({erlang})" if erlang else version


def rabbitmq_pid(port: int = 5672) -> int | None:
    """The local RabbitMQ node (``beam.smp``) listening on ``port``, to account for its CPU;
    None if not local. Tests and benchmarks start private nodes beside it: the first
    ``beam.smp`` found is not always the node being measured."""
    nodes = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]
    for proc in nodes:
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                for c in proc.net_connections(kind="tcp")
            ):
                return int(proc.pid)
    return int(nodes[0].pid) if nodes else None


# -- CPU ------------------------------------------------------------------------------------
def pid_cpu(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` (all its threads); nan if unknown."""
    if pid is None:
        return float("nan")
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return float("nan")
    return float(times.user + times.system)


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by process group ``pgid`` (a server and its workers).

    Every child runs in its own session, so this covers pool and ``--workers`` children too
    (as long as they are alive; a child that exited takes its seconds with it).
    """
    total = 0.0
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.Error, ProcessLookupError):
            continue
    return total


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = float(sum(times))
    return total - idle, total


@dataclass(frozen=True)
class Snapshot:
    wall: float
    busy: float
    total: float
    pids: dict[str, float]


@dataclass(frozen=True)
class Usage:
    """% of one core per named process over the window, and what the rest used."""

    seconds: float
    by_name: dict[str, float]
    others: float

    def describe(self) -> str:
        named = ", ".join(f"{name} {pct:.0f}%" for name, pct in self.by_name.items())
        return (
            f"CPU % of a core over {self.seconds:.1f}s: {named}, other processes {self.others:.0f}%"
        )


def snapshot(pids: dict[str, int | None], groups: dict[str, int] | None = None) -> Snapshot:
    """CPU used so far by the named processes (``groups``: whole process groups) and by us."""
    busy, total = host_cpu()
    cpu = {name: pid_cpu(pid) for name, pid in pids.items()}
    cpu.update({name: group_cpu(pgid) for name, pgid in (groups or {}).items()})
    cpu["bench"] = time.process_time()
    return Snapshot(time.monotonic(), busy, total, cpu)


def usage(before: Snapshot, after: Snapshot) -> Usage:
    seconds = max(1e-6, after.wall - before.wall)
    cores = os.cpu_count() or 1
    host = (after.busy - before.busy) / max(1e-6, after.total - before.total) * 100 * cores
    by_name = {name: (after.pids[name] - before.pids[name]) / seconds * 100 for name in before.pids}
    known = sum(v for v in by_name.values() if v == v)  # skip nan (process gone)
    return Usage(seconds, by_name, max(0.0, host - known))


def quiet_check(seconds: float = 1.0) -> float:
    """CPU the machine uses while this process sleeps, in % of one core."""
    before = snapshot({})
    time.sleep(seconds)
    return usage(before, snapshot({})).others


def wait_quiet(max_wait: float) -> float:
    """Wait up to ``max_wait`` s for other processes to calm down; returns their last % use."""
    deadline = time.monotonic() + max_wait
    background = quiet_check()
    while background > QUIET_PCT and time.monotonic() < deadline:
        background = quiet_check()
    return background


POSTGRES = os.environ.get("BEATKEEPER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def sqlite_database(tmp: Path, tag: str) -> str:
    """A migrated, empty SQLite database in ``tmp``, named after ``tag``."""
    import uuid

    from jobs.store.migrate import upgrade

    url = f"sqlite:///{tmp}/{tag}-{uuid.uuid4().hex[:6]}.db"
    upgrade(url)
    return url


@contextlib.contextmanager
def migrated_database(store: str, tmp: Path, tag: str) -> Iterator[str]:
    """A migrated, empty database for one store (``sqlite`` in ``tmp``, else a new database on
    ``POSTGRES``), named after ``tag``; a PostgreSQL one is dropped at the end."""
    import uuid

    import psycopg

    from jobs.store.migrate import upgrade

    if store == "sqlite":
        yield sqlite_database(tmp, tag)
        return
    name = f"bk_{tag.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{POSTGRES}/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
