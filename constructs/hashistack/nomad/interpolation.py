"""The runtime variables Nomad interpolates in a task's ``env`` values (``${...}``), from
client/taskenv/env.go (the ``NOMAD_*`` names and prefixes, and the ``node.*``, ``attr.*`` and
``meta.*`` keys) of Nomad v1.9.7, v1.10.5 and v1.11.3.

An unknown name is not an error to Nomad: it is left as the literal text ``${NAME}``, so a typo
reaches the application unnoticed. :func:`unknown_interpolations` lists such names.
"""

from __future__ import annotations

import re

__all__ = ["known_variable", "unknown_interpolations"]

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")

# client/taskenv/env.go, const block of the environment variable names (all three versions).
_NOMAD_NAMES = frozenset({
    "NOMAD_ALLOC_DIR", "NOMAD_ALLOC_ID", "NOMAD_ALLOC_INDEX", "NOMAD_ALLOC_NAME", "NOMAD_CPU_CORES",
    "NOMAD_CPU_LIMIT", "NOMAD_DC", "NOMAD_GROUP_NAME", "NOMAD_JOB_ID", "NOMAD_JOB_NAME", "NOMAD_JOB_PARENT_ID",
    "NOMAD_MEMORY_LIMIT", "NOMAD_MEMORY_MAX_LIMIT", "NOMAD_NAMESPACE", "NOMAD_PARENT_CGROUP", "NOMAD_REGION",
    "NOMAD_SECRETS_DIR", "NOMAD_SHORT_ALLOC_ID", "NOMAD_TASK_DIR", "NOMAD_TASK_NAME", "NOMAD_TOKEN",
})
# Added in 1.10 (client/taskenv/env.go: UnixAddr).
_NOMAD_NAMES_SINCE = {"NOMAD_UNIX_ADDR": (1, 10)}
# Prefixes followed by a port label, task name or meta key.
_NOMAD_PREFIXES = ("NOMAD_ADDR_", "NOMAD_ALLOC_PORT_", "NOMAD_HOST_ADDR_", "NOMAD_HOST_IP_", "NOMAD_HOST_PORT_",
                   "NOMAD_IP_", "NOMAD_META_", "NOMAD_PORT_", "NOMAD_UPSTREAM_")
_NODE_KEYS = frozenset({"node.unique.id", "node.unique.name", "node.datacenter", "node.region", "node.class",
                        "node.pool"})
_NODE_PREFIXES = ("attr.", "meta.")


def _version(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def known_variable(name: str, *, version: str) -> bool:
    """Whether Nomad ``version`` resolves ``${name}`` in a task's env values."""
    if name in _NOMAD_NAMES or name in _NODE_KEYS:
        return True
    since = _NOMAD_NAMES_SINCE.get(name)
    if since is not None:
        return _version(version) >= since
    if any(name.startswith(p) and len(name) > len(p) for p in _NOMAD_PREFIXES + _NODE_PREFIXES):
        return True
    return False


def unknown_interpolations(value: str, *, version: str) -> list[str]:
    """The ``${...}`` names in ``value`` that Nomad ``version`` would leave unresolved."""
    return [name for name in _INTERPOLATION.findall(value) if not known_variable(name, version=version)]
