"""A small, deterministic HCL writer for agent configuration files.

A body is a list of :class:`Attr` and :class:`Block` in the order given; values are strings,
numbers, booleans, lists and string-keyed maps. No string concatenation of config elsewhere:
models build bodies, this renders them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Attr", "Block", "render"]


@dataclass(frozen=True)
class Attr:
    name: str
    value: Any


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: tuple["Item", ...] = field(default_factory=tuple)


Item = Union[Attr, Block]


def _value(value: Any, indent: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "${" in value or "%{" in value:
            raise ValueError(f"HCL string {value!r} holds a template sequence; agent configs take literal values")
        return json.dumps(value)  # JSON string escapes are valid HCL
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        lines = [f"{inner}{json.dumps(str(k))} = {_value(v, inner)}" for k, v in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{indent}}}"
    raise TypeError(f"cannot render {type(value).__name__} as HCL")


def _render(items: tuple[Item, ...] | list[Item], indent: str) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, Attr):
            if item.value is None:
                continue
            out.append(f"{indent}{item.name} = {_value(item.value, indent)}")
        else:
            labels = "".join(f" {json.dumps(label)}" for label in item.labels)
            out.append(f"{indent}{item.type}{labels} {{")
            out.extend(_render(item.body, indent + "  "))
            out.append(f"{indent}}}")
    return out


def render(items: tuple[Item, ...] | list[Item]) -> str:
    """The body as HCL text, ending with a newline."""
    return "\n".join(_render(items, "")) + "\n"
