"""Checks a rendered job's keys against the Nomad API struct fields, by position."""

from __future__ import annotations

from hashistack.nomad.api_fields import CHILDREN, FREE_FORM, STRUCTS


def _walk(struct: str, value: dict, path: str, problems: list[str]) -> None:
    for key, child in value.items():
        if key not in STRUCTS[struct]:
            problems.append(f"{path}.{key} is not a field of api.{struct}")
            continue
        if (struct, key) in FREE_FORM:
            continue
        sub = CHILDREN.get((struct, key))
        if sub is None:
            continue
        if isinstance(child, list):
            for i, item in enumerate(child):
                _walk(sub, item, f"{path}.{key}[{i}]", problems)
        else:
            _walk(sub, child, f"{path}.{key}", problems)


def api_field_problems(doc: dict) -> list[str]:
    problems: list[str] = []
    _walk("Job", doc["Job"], "Job", problems)
    return problems
