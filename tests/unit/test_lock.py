"""The lock that `make up` and CI install from covers what setup.cfg asks for."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    lines += config["options.extras_require"]["dev"].splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def _pinned(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.MULTILINE)
    }


def test_every_dependency_in_setup_cfg_is_pinned_in_the_dev_lock_at_an_allowed_version() -> None:
    pinned = _pinned("dev.lock")
    wrong = [
        f"{req} (locked: {pinned.get(canonicalize_name(req.name), 'missing')})"
        for req in _requirements()
        if canonicalize_name(req.name) not in pinned
        or pinned[canonicalize_name(req.name)] not in req.specifier
    ]
    assert not wrong, f"run `make lock` after changing setup.cfg: {wrong}"


def test_the_app_lock_pins_a_subset_of_the_dev_lock_at_the_same_versions() -> None:
    app, dev = _pinned("app.lock"), _pinned("dev.lock")
    assert {name: dev.get(name) for name in app} == app
