"""Turning the enqueue form's strings into typed arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def parse_form(parameters: list[dict[str, Any]], form: Mapping[str, str]) -> dict[str, Any]:
    """Form fields to kwargs: empty fields are left to the job's defaults; the job's own
    validation (pydantic) converts the strings and reports what does not fit."""
    kwargs: dict[str, Any] = {}
    for param in parameters:
        raw = form.get(f"arg-{param['name']}", "").strip()
        if raw == "":
            continue
        if param["type"] in ("array", "object"):
            try:
                kwargs[param["name"]] = json.loads(raw)
            except json.JSONDecodeError:
                kwargs[param["name"]] = raw  # the job's validation names the field
        else:
            kwargs[param["name"]] = raw
    return kwargs
