"""BEATKEEPER_WEB_WORKERS: how many uvicorn processes ``beatkeeper up`` starts."""

from __future__ import annotations

import pytest

from webapp.cli import PROCESS_COMMANDS
from webapp.settings import WebSettings


def test_the_web_command_runs_as_many_uvicorn_workers_as_configured() -> None:
    settings = WebSettings.from_env({"BEATKEEPER_WEB_WORKERS": "3"})
    command = PROCESS_COMMANDS["web"].format(
        python="python", host="127.0.0.1", port=8000, web_workers=settings.web_workers
    )
    assert command.endswith("--workers 3")
    assert WebSettings.from_env({}).web_workers == 1


def test_zero_web_workers_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="BEATKEEPER_WEB_WORKERS"):
        WebSettings.from_env({"BEATKEEPER_WEB_WORKERS": "0"})
