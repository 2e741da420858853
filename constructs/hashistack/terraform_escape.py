"""Terraform reads every string in the synthesized JSON as a template: ``${...}`` interpolates
and ``%{...}`` is a directive. Text meant for Nomad or consul-template at run time
(``${NOMAD_ALLOC_ID}``, ``${attr.unique.hostname}``, ``%{``) must reach them literally, so every
such string passes through :func:`escape` exactly once, where it is handed to a resource."""

from __future__ import annotations

import re

__all__ = ["escape", "unescape"]

_OPENERS = re.compile(r"([$%])\{")


def escape(text: str) -> str:
    """``${`` -> ``$${`` and ``%{`` -> ``%%{``: Terraform turns them back into ``${`` and ``%{``."""
    return _OPENERS.sub(r"\1\1{", text)


def unescape(text: str) -> str:
    """What Terraform makes of an escaped string (the inverse of :func:`escape`)."""
    return re.sub(r"([$%])\1\{", r"\1{", text)
