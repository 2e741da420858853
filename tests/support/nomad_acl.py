"""Nomad's ACL policy language, as a test model (STAND-IN: no Nomad binary runs here): what a
policy's rules allow, by the rules of Nomad v1.10.2 ``acl/policy.go`` (``expandNamespacePolicy``:
the capabilities each ``policy`` shorthand of a namespace rule expands to; ``node``, ``agent``,
``operator``, ``plugin``, ``quota`` take ``deny``/``read``/``write``/``list``) and ``acl/acl.go``
(a capability is allowed when a matching namespace rule grants it; ``deny`` wins)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from tests.support.hcl import parse

READ = {"list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume", "list-scaling-policies",
        "read-scaling-policy", "read-job-scaling", "host-volume-read"}
WRITE = READ | {"scale-job", "submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec", "alloc-lifecycle",
                "csi-mount-volume", "csi-write-volume", "submit-recommendation", "host-volume-register",
                "host-volume-write"}
SHORTHAND = {"read": READ, "write": WRITE, "scale": {"list-scaling-policies", "read-scaling-policy",
                                                     "read-job-scaling", "scale-job"}, "deny": set()}
LEVEL = {"deny": -1, "list": 0, "read": 1, "write": 2}


def namespace_capabilities(rules: str, namespace: str) -> set[str]:
    """The capabilities a policy grants in ``namespace`` (an exact rule beats a glob)."""
    blocks = {name: body for block in parse(rules).get("namespace") or [] for name, body in block.items()}
    exact = blocks.get(namespace)
    matching = [exact] if exact is not None else [b for n, b in blocks.items() if fnmatchcase(namespace, n)]
    caps: set[str] = set()
    for body in matching:
        if body.get("policy") == "deny" or "deny" in (body.get("capabilities") or []):
            return set()
        caps |= SHORTHAND.get(str(body.get("policy", "")), set()) | set(body.get("capabilities") or [])
    return caps


def level(rules: str, resource: str) -> int:
    """The policy's level on ``node``, ``agent``, ``operator``, ``plugin`` or ``quota`` (-1: none)."""
    blocks = parse(rules).get(resource) or []
    return max((LEVEL[str(b.get("policy"))] for b in blocks), default=-1)
