"""Small helpers the options share to write consul-template text and messages."""

from __future__ import annotations

import json
import re


def quote(text: str) -> str:
    """``text`` as a Go template string literal."""
    return json.dumps(text)


def kv_key(key: str) -> str:
    """A KV key in a template: ``.Data.data.key``, or ``index .Data.data "my-key"`` for keys that
    are not Go identifiers."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f".Data.data.{key}"
    return f"index .Data.data {quote(key)}"


def excerpt(text: str, limit: int = 60) -> str:
    """A long template cut for a message."""
    return text if len(text) <= limit else text[:limit - 3] + "..."
