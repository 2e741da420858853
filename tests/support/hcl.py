"""Parses Vault policy HCL with python-hcl2 (which keeps the quotes of strings)."""

from __future__ import annotations

import hcl2


def unquote(value):
    """python-hcl2's output with the quotes of every string (and map key) removed."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items()}
    return value


def parse(text: str) -> dict:
    """HCL text as python-hcl2 reads it, quotes removed."""
    return unquote(hcl2.loads(text))


def policy_paths(text: str) -> dict[str, list[str]]:
    """``{path: capabilities}`` of a policy's HCL text."""
    paths: dict[str, list[str]] = {}
    for block in parse(text).get("path", []):
        for key, body in block.items():
            paths[key] = list(body["capabilities"])
    return paths
