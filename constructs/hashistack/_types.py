"""Types checked at the library's boundary: a public value's fields against their annotations.

One checker, driven by the dataclasses' own annotations (no second list of types): a wrong type
is refused with the usual one-line message (where, field, value, expected type, fix) instead of a
traceback deep in the plan. Nested option dataclasses and the items of tuples and mappings are
checked too, their fields reported by path (``secrets[0].path``). Plain Python, no dependency:
the annotations in use are a small set (str, int, float, bool, None, Literal, tuple, Mapping,
Callable, the library's dataclasses), and a check costs about 0.1 ms per spec and 0.2 ms per
environment (measured on the 2-core build machine).

Why not pydantic v2 (already installed, through moto): it would cost about 75 ms of every synth
(38 ms to import, 35 ms to build one class's schema, more per class), it validates a dict of
fields rather than the frozen instances users build (an instance passes unchecked, and the options
nested in it with it), its lax mode coerces ``"3"`` to 3 where we refuse, and each of its messages
would have to be rewritten into ours. beartype checks calls, not the fields of a built dataclass.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from .errors import HashistackError

__all__ = ["check_types"]


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The class's resolved annotations, once per class."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple (each item {_describe(args[0])})"
        return f"a tuple of {len(args)} ({', '.join(_describe(a) for a in args)})" if args else "a tuple"
    if origin in (Mapping, dict) or annotation in (Mapping, dict):
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}" if args else "a mapping"
    if origin is Callable or annotation is Callable:
        return "a function"
    if annotation is float:
        return "a number"
    if annotation is int:
        return "a whole number"
    if annotation is str:
        return "a string"
    if annotation is bool:
        return "True or False"
    return getattr(annotation, "__name__", str(annotation))


def _problem(value: Any, annotation: Any, path: str) -> tuple[str, Any, Any] | None:
    """``(field path, value, expected annotation)`` of the first value that does not fit, or None."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return None
    if origin in (Union, types.UnionType):
        fits = [a for a in args if _problem(value, a, path) is None]
        if fits:
            return None
        # a value of one of the union's container types: report the item that is wrong
        for a in args:
            inner = _problem(value, a, path)
            if inner is not None and inner[0] != path:
                return inner
        return path, value, annotation
    if annotation is type(None):
        return None if value is None else (path, value, type(None))
    if origin is Literal:
        return None if any(value == a and type(value) is type(a) for a in args) else (path, value, annotation)
    if origin is tuple:
        if not isinstance(value, tuple):
            return path, value, annotation
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not variadic and args and len(value) != len(args):
            return path, value, annotation
        items = args[:1] * len(value) if variadic else args
        for i, (item, item_type) in enumerate(zip(value, items)):
            if (found := _problem(item, item_type, f"{path}[{i}]")) is not None:
                return found
        return None
    if origin in (Mapping, dict) or annotation in (Mapping, dict):
        if not isinstance(value, Mapping):
            return path, value, annotation
        key_type, value_type = args or (Any, Any)
        for key, item in value.items():
            if (found := _problem(key, key_type, f"{path} key")) is not None:
                return found
            if (found := _problem(item, value_type, f"{path}[{key}]")) is not None:
                return found
        return None
    if origin is Callable or annotation is Callable:
        return None if callable(value) else (path, value, annotation)
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else (path, value, float)
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else (path, value, int)
    if isinstance(annotation, type):
        # a class is not an instance of itself, though a runtime-checkable protocol would say so
        if isinstance(value, type) or not isinstance(value, annotation):
            return path, value, annotation
        if dataclasses.is_dataclass(value):
            return _fields_problem(value, f"{path}.")
        return None
    return None  # an annotation this checker does not model: the plan's own rules decide


def _fields_problem(obj: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        if (found := _problem(getattr(obj, f.name), hints[f.name], f"{prefix}{f.name}")) is not None:
            return found
    return None


def check_types(obj: Any, where: str, *, construct: str) -> None:
    """Refuses (:class:`~hashistack.HashistackError`) the first field of the dataclass ``obj`` (or
    of a dataclass nested in it) whose value does not fit its annotation, naming ``construct``
    (the class the user wrote), the field's path, the value, the type expected and the fix."""
    found = _fields_problem(obj)
    if found is None:
        return
    path, value, annotation = found
    expected = _describe(annotation)
    raise HashistackError(f"{where}: {path} = {_shown(value)}: {construct}.{path} takes {expected}, "
                          f"not {type(value).__name__}; {_fix(value, annotation, expected)}")


def _fix(value: Any, annotation: Any, expected: str) -> str:
    """What to write instead, from the value given and the type expected."""
    classes = [a for a in (typing.get_args(annotation) or (annotation,)) if isinstance(a, type)]
    enums = [a for a in classes if issubclass(a, enum.Enum)]
    if enums and isinstance(value, str):
        members = [f"{e.__name__}.{m.name}" for e in enums for m in e]
        named = [f"{e.__name__}.{m.name}" for e in enums for m in e
                 if value.strip().lower() in (str(m.value).lower(), m.name.lower())]
        return f"write {named[0]}" if named else f"use one of {', '.join(members)}"
    protocols = [a for a in classes if getattr(a, "_is_protocol", False)]
    if protocols:
        methods = sorted(m for m in vars(protocols[0]) if not m.startswith("_"))
        return f"give a value that has {', '.join(f'{m}()' for m in methods)}"
    if isinstance(value, (list, set)) and "tuple" in expected:
        return (f"write a tuple, e.g. {tuple(value)!r} (a frozen value holds tuples)" if len(repr(value)) <= _SHOWN
                else "write a tuple, (...) instead of [...] (a frozen value holds tuples)")
    if isinstance(value, str) and "number" in expected and _is_number(value):
        return f"write {value.strip()} without quotes"
    if expected.startswith("True or False"):
        return f"write {expected}, without quotes"
    if expected.startswith("a string") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"write it in quotes, {str(value)!r}"
    if expected[:1].isupper():
        kinds = [k for k in expected.split(" or ") if k[:1].isupper()]
        if isinstance(value, str):
            return f"build a {kinds[0]} (see its constructors), not a string"
        return "pass " + " or ".join(f"{k}(...)" for k in kinds)
    return f"give {expected}"


_SHOWN = 80
"""The longest value repeated in a message; a longer one is cut, a settings object named."""


def _shown(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(...)"
    if isinstance(value, (list, tuple)) and any(dataclasses.is_dataclass(v) for v in value):
        items = ", ".join(_shown(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
