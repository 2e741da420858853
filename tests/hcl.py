"""Parses Vault policy HCL with python-hcl2 (which keeps the quotes of strings)."""

from __future__ import annotations

import hcl2


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def policy_paths(text: str) -> dict[str, list[str]]:
    """``{path: capabilities}`` of a policy's HCL text."""
    paths: dict[str, list[str]] = {}
    for block in hcl2.loads(text).get("path", []):
        for key, body in block.items():
            paths[_unquote(key)] = [_unquote(c) for c in body["capabilities"]]
    return paths
