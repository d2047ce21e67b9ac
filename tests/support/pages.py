"""Reading the UI's forms back in tests: the error summary and the boxes marked invalid."""

from __future__ import annotations

import re

# One line of the summary above a form: the field (a link to its box when it is on the form).
SUMMARY_ITEM = r'<li>(?:<a href="#f-[^"]+">)?<code>([^<]+)</code>(?:</a>)?:'
_BOX = re.compile(r"<(?:input|select|textarea)\b[^>]*>")


def invalid_boxes(page: str) -> dict[str, str]:
    """Boxes marked ``aria-invalid``: their id (``f-<field>``) and the message beside them,
    found through their ``aria-describedby``."""
    found: dict[str, str] = {}
    for tag in _BOX.findall(page):
        if 'aria-invalid="true"' not in tag:
            continue
        box = re.search(r'id="f-([^"]+)"', tag)
        described = re.search(r'aria-describedby="([^"]+)"', tag)
        assert box and described, f"an invalid box without id or aria-describedby: {tag}"
        error_id = next(i for i in described.group(1).split() if i.startswith("e-"))
        message = re.search(rf'<small class="field-error" id="{error_id}">([^<]*)</small>', page)
        assert message, f"{error_id} is not on the page"
        found[box.group(1)] = message.group(1)
    return found


def schedule_form(**fields: str) -> dict[str, str]:
    """A valid new-schedule form (a daily cron of ``runs_report``), ``fields`` replacing its
    boxes."""
    base = {
        "name": "paris-report",
        "job": "runs_report",
        "trigger": "cron",
        "cron": "0 9 * * *",
        "timezone": "UTC",
        "kwargs": "{}",
        "jitter_seconds": "0",
        "catch_up": "skip",
        "catch_up_window_seconds": "3600",
        "overlap": "allow",
    }
    return {**base, **fields}
