"""Checks a rendered job's keys and value types against Nomad's API structs for a version."""

from __future__ import annotations

from hashistack.nomad.api_fields import SUPPORTED_VERSIONS, api_problems

DEFAULT_VERSION = "1.10"


def api_field_problems(doc: dict, version: str = DEFAULT_VERSION) -> list[str]:
    return api_problems(doc, version)


def api_field_problems_all_versions(doc: dict) -> dict[str, list[str]]:
    return {v: api_problems(doc, v) for v in SUPPORTED_VERSIONS}
