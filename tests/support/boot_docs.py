"""Helpers for the boot tests: the user data of each node role, decoded from the synthesized
`<env>-infra` stacks."""

from __future__ import annotations

import json

from hashistack.cluster import Role
from hashistack.cluster.cloud_init import decode_user_data

ROLES = tuple(r for r in Role if r is not Role.LOAD_BALANCER)


def launch_templates(synth, env) -> dict[Role, dict]:
    """The launch template of each node role, by the role its name prefix names."""
    return templates_of(synth.stack(f"{env.name}-infra"), env)


def templates_of(infra: dict, env) -> dict[Role, dict]:
    """:func:`launch_templates` of a synthesized ``<env>-infra`` stack given as its JSON."""
    templates = infra["resource"]["aws_launch_template"].values()
    return {role: next(t for t in templates if t["name_prefix"] == f"hashistack-{env.name}-{role.value}-")
            for role in ROLES}


def user_data_text(template: dict) -> str:
    return decode_user_data(template["user_data"])


def cloud_config(text: str) -> dict:
    assert text.startswith("#cloud-config\n"), text[:40]
    return json.loads(text.split("\n", 1)[1])


def scripts(doc: dict) -> dict[str, str]:
    """Every shell script the document writes (path -> content)."""
    return {f["path"]: f["content"] for f in doc["write_files"] if f["content"].startswith("#!/bin/bash")}
