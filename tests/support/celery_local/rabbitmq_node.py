"""A private RabbitMQ node on its own ports, for tests and benchmarks that kill or restart it.

The system node (``/etc/rabbitmq``, port 5672) is shared by every test session and is never
restarted. This starts another node of the same installation with its own configuration,
plugin list, env file, node name, ports and data directories, so it can be stopped, killed
with SIGKILL and started again (FIELD-NOTES: "A private RabbitMQ node for fault tests").

As root the Debian wrappers (``/usr/sbin/rabbitmq-server``) drop to the ``rabbitmq`` user,
so the node's directories must belong to that user; as another user the scripts in
``/usr/lib/rabbitmq/bin`` run as that user directly.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import amqp
import httpx

DEB_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


class RabbitMQUnavailable(RuntimeError):
    """rabbitmq-server is not installed, or the node did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(name: str) -> str:
    """The rabbitmq-server / rabbitmqctl to run as the current user."""
    if os.geteuid() != 0 and (DEB_SCRIPTS / name).exists():
        return str(DEB_SCRIPTS / name)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if found is None:
        raise RabbitMQUnavailable(
            f"{name} is not installed (Debian/Ubuntu: sudo apt-get install rabbitmq-server)"
        )
    return found


def installed() -> bool:
    try:
        _script("rabbitmq-server")
    except RabbitMQUnavailable:
        return False
    return True


def _run_as() -> tuple[int, int] | None:
    """The uid/gid the node runs as when the wrappers switch user (root only)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def ensure_cookie() -> None:
    """Create the Erlang cookie before the first node starts.

    On a fresh install nothing has run yet: the node and the first ``rabbitmqctl`` would each
    create one at the same moment, and a CLI holding another cookie cannot reach the node.
    """
    owner = _run_as()
    home = Path(pwd.getpwnam("rabbitmq").pw_dir) if owner else Path.home()
    cookie = home / ".erlang.cookie"
    if cookie.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    cookie.write_text(secrets.token_hex(16).upper())
    cookie.chmod(0o400)
    if owner is not None:
        os.chown(cookie, *owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class RabbitMQNode:
    """One node: ``start()``, ``stop()`` (graceful), ``kill()`` (SIGKILL), ``restart()``.

    Every ``rabbitmqctl`` call boots an Erlang VM of its own (1.5-5 s on a busy 2-core
    machine), so the frequent operations avoid it: readiness is an AMQP handshake (the
    listener opens last in the boot), a graceful stop is SIGTERM to the VM (RabbitMQ
    shuts down cleanly on it), and vhosts are made through the management API.
    """

    def __init__(self, label: str = "bkfault", base: Path | None = None) -> None:
        self.name = f"{label}-{uuid.uuid4().hex[:8]}@localhost"
        self.base = base or Path(tempfile.mkdtemp(prefix="beatkeeper-rabbitmq-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.management_port = free_port()
        self.mnesia = self.base / "mnesia"
        self.log_dir = self.base / "log"
        self.pid_file = self.mnesia / f"{self.name}.pid"
        self._prepare()

    def _prepare(self) -> None:
        self.mnesia.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
            # Tests stop and kill nodes on purpose: keep free-disk and memory alarms quiet.
            "disk_free_limit.absolute = 50MB\n"
        )
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        # Our own (nearly empty) env file: the system one pins NODENAME and the port.
        (self.base / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        owner = _run_as()
        if owner is not None:
            # mkdtemp made the base 0700 for root; the node runs as rabbitmq.
            for path in [self.base, *self.base.rglob("*")]:
                os.chown(path, *owner)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.mnesia),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def url(self, vhost: str = "/") -> str:
        path = "" if vhost == "/" else vhost
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{path}"

    @property
    def management_api(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/api"

    # -- control ---------------------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 60) -> str:
        """Run ``rabbitmqctl -n NODE args...``; raise with its output if it fails."""
        done = subprocess.run(
            [_script("rabbitmqctl"), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RabbitMQUnavailable(
                f"rabbitmqctl {' '.join(args)} on {self.name} failed: {done.stdout}{done.stderr}"
            )
        return done.stdout

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def accepts_amqp(self) -> bool:
        """An AMQP handshake succeeds: RabbitMQ (not just Erlang) is up."""
        conn = amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=1)
        try:
            conn.connect()
        except (OSError, amqp.exceptions.AMQPError):
            return False
        with contextlib.suppress(OSError, amqp.exceptions.AMQPError):
            conn.close()
        return True

    def start(self, timeout: float = 60) -> None:
        """Start the node detached and wait until RabbitMQ (not just Erlang) is up."""
        if self.running():
            return
        self.pid_file.unlink(missing_ok=True)  # a stale pid would fool the wait
        ensure_cookie()
        subprocess.run(
            [_script("rabbitmq-server"), "-detached"],
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + timeout
        while not self.accepts_amqp():
            if time.monotonic() > deadline:
                raise RabbitMQUnavailable(f"{self.name} did not start within {timeout} s")
            time.sleep(0.1)

    def stop(self, timeout: float = 60) -> None:
        """Graceful stop (SIGTERM); returns once the OS process is gone."""
        pid = self.pid()
        if pid is not None and self.running():
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            # By its pid: RabbitMQ removes its pid file as soon as it begins to stop.
            while _alive(pid):
                if time.monotonic() > deadline:
                    raise RabbitMQUnavailable(f"{self.name} did not stop within {timeout} s")
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the Erlang VM, as a crash or the OOM killer would."""
        pid = self.pid()
        if pid is not None and self.running():
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _management(self) -> httpx.Client:
        return httpx.Client(base_url=self.management_api, auth=("guest", "guest"), timeout=30)

    def add_vhost(self, vhost: str) -> None:
        name = quote(vhost, safe="")
        with self._management() as http:
            # The HTTP listener may open a moment after AMQP's.
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.put(f"/vhosts/{name}").raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
            http.put(f"/permissions/{name}/guest", json=permissions).raise_for_status()

    def delete_vhost(self, vhost: str) -> None:
        if self.running():
            with self._management() as http:
                http.delete(f"/vhosts/{quote(vhost, safe='')}")

    def join(self, seed: RabbitMQNode) -> None:
        """Make this (running) node a member of ``seed``'s cluster."""
        self.ctl("stop_app")
        self.ctl("reset")
        self.ctl("join_cluster", seed.name)
        self.ctl("start_app")

    def logs(self) -> str:
        log = self.log_dir / f"{self.name}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def destroy(self) -> None:
        """Kill the node and remove its files (a graceful stop takes seconds and the data
        is deleted anyway)."""
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)
