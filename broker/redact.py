"""Credentials never reach a message: URLs and free text with passwords masked.

``url`` uses kombu's ``maybe_sanitize_url`` (``amqp://bk:**@host//``); ``text`` masks the
password of every ``scheme://user:password@`` in a sentence (an exception's text, a refusal),
so a message that quotes a URL somewhere inside it is safe too.
"""

from __future__ import annotations

import re

from kombu.utils.url import maybe_sanitize_url

MASK = "**"
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]*@")


def url(value: str) -> str:
    """``value`` with its password masked (a URL without one is unchanged)."""
    return text(str(maybe_sanitize_url(value)))


def text(value: str) -> str:
    """Every ``scheme://user:password@`` in ``value`` with the password masked."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}@", value)
