"""JSON text as the wire carries it: strict, bounded, and refused with a sentence.

Python's ``json.loads`` accepts ``NaN`` and ``Infinity`` (not JSON), turns a 4,301-digit
integer into a ``ValueError`` about Python's digit limit, and raises ``RecursionError`` on
deep nesting. Every JSON body and every JSON text field (a form's kwargs) is read here, so
each of those is a :class:`JSONTextError` that the front ends show as a 4xx naming the field.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any argument a job needs, shallow enough for every recursive walk downstream
# (pydantic, json.dumps, SQLAlchemy's JSON type) to stay far from Python's recursion limit.
MAX_DEPTH = 32


class JSONTextError(ValueError):
    """The text is not JSON Beatkeeper accepts; ``str(exc)`` says why and ``field`` where
    (``kwargs.hours`` for a NaN there; empty when the text as a whole is wrong)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` as read, to be found and named."""


def _find_constant(value: Any) -> tuple[str, _Constant] | None:
    """The dotted path and text of the first NaN/Infinity in ``value``; no recursion."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Constant):
            return path, item
        children = (
            item.items()
            if isinstance(item, dict)
            else enumerate(item)
            if isinstance(item, list)
            else ()
        )
        stack.extend((f"{path}.{key}" if path else str(key), child) for key, child in children)
    return None


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0); no recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in item)
    return deepest


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` itself, or JSONTextError when it nests deeper than ``max_depth``."""
    if depth(value) > max_depth:
        raise JSONTextError(f"nested deeper than {max_depth} levels")
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text; NaN, Infinity, oversized numbers and deep nesting are refused."""
    try:
        value = json.loads(text, parse_constant=_Constant)
    except RecursionError:
        raise JSONTextError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"not valid JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer beyond Python's 4,300-digit limit
        raise JSONTextError(f"not valid JSON: {exc}") from None
    check_depth(value, max_depth)
    found = _find_constant(value)
    if found is not None:
        raise JSONTextError(f"not valid JSON: {found[1]} is not allowed in JSON", found[0])
    return value
