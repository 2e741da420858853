"""Construct paths without a jsii round trip each.

Every ``construct.node.path`` is two calls into the jsii runtime (a few tenths of a millisecond
each), and a service's constructs ask for theirs to word their messages. A construct's path is its
scope's path and its id, so the library reads a scope's path once, keeps it on the Python object,
and derives its children's.
"""

from __future__ import annotations

from typing import Any

__all__ = ["child_path", "path_of"]

_ATTRIBUTE = "_hashistack_path"


def path_of(construct: Any) -> str:
    """The construct's node path, asked of the jsii runtime once per construct object."""
    cached = construct.__dict__.get(_ATTRIBUTE)
    if cached is None:
        cached = construct.node.path
        construct.__dict__[_ATTRIBUTE] = cached
    return cached


def child_path(scope: Any, id: str, child: Any = None) -> str:
    """The path of ``scope``'s child ``id`` (kept on ``child`` when given, for its own children)."""
    base = path_of(scope)
    path = f"{base}/{id}" if base else id
    if child is not None:
        child.__dict__[_ATTRIBUTE] = path
    return path
