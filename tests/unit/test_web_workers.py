"""BEATKEEPER_WEB_WORKERS and BEATKEEPER_WORKER_INSTANCES: what `beatkeeper up` starts."""

from __future__ import annotations

import pytest

from webapp.cli import process_commands
from webapp.settings import WebSettings


def _commands(env: dict[str, str]) -> dict[str, str]:
    return process_commands(WebSettings.from_env(env), python="python", host="127.0.0.1", port=8000)


def test_the_web_command_runs_as_many_uvicorn_workers_as_configured() -> None:
    assert _commands({"BEATKEEPER_WEB_WORKERS": "3"})["web"].endswith("--workers 3")
    assert WebSettings.from_env({}).web_workers == 1


def test_zero_web_workers_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="BEATKEEPER_WEB_WORKERS"):
        WebSettings.from_env({"BEATKEEPER_WEB_WORKERS": "0"})


def test_one_worker_instance_keeps_the_default_node_name() -> None:
    commands = _commands({})

    assert sorted(commands) == ["beat", "flower", "web", "worker"]
    assert " -n " not in commands["worker"]


def test_several_worker_instances_each_get_their_own_prefixed_node_name() -> None:
    commands = _commands({"BEATKEEPER_WORKER_INSTANCES": "3", "BEATKEEPER_QUEUE_PREFIX": "acme"})

    workers = {name: cmd for name, cmd in commands.items() if name.startswith("worker")}
    assert sorted(workers) == ["worker.1", "worker.2", "worker.3"]
    nodes = {cmd.split(" -n ", 1)[1].split()[0] for cmd in workers.values()}
    assert nodes == {"acme@%h-1", "acme@%h-2", "acme@%h-3"}


def test_only_filters_the_worker_instances_by_their_role() -> None:
    web = WebSettings.from_env({"BEATKEEPER_WORKER_INSTANCES": "2"})

    commands = process_commands(web, python="python", host="h", port=1, only=("worker",))

    assert sorted(commands) == ["worker.1", "worker.2"]


@pytest.mark.parametrize("value", ["0", "33"])
def test_worker_instances_out_of_range_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="BEATKEEPER_WORKER_INSTANCES"):
        WebSettings.from_env({"BEATKEEPER_WORKER_INSTANCES": value})
