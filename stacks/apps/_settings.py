"""Per-environment settings shared by the service modules: a default per tier, overridden per
environment where a service needs it.

A module's ``SETTINGS`` maps a :class:`~hashistack.Tier` (the default for every environment of
that tier) and/or an environment name (that environment only) to its settings object::

    SETTINGS = {
        Tier.DEVELOPMENT: Settings(count=1, ...),
        Tier.STAGING: Settings(count=2, ...),
        Tier.PRODUCTION: Settings(count=3, ...),
        "prod": Settings(count=4, ...),        # prod differs from other production environments
    }

A new environment inherits its tier's settings with no edit to any service module. A missing
entry fails synth once, naming every module and environment without settings.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, TypeVar, Union

from hashistack import Environment, HashistackError, Tier

T = TypeVar("T")
Key = Union[Tier, str]


class MissingSettings(HashistackError):
    """A service module has no settings for an environment (nor for its tier)."""


def lookup(table: Mapping[Any, T], env: Environment) -> T | None:
    """The environment's own entry, else its tier's, else None."""
    if env.name in table:
        return table[env.name]
    return table.get(env.tier)


def settings_for(module: str, table: Mapping[Any, T], env: Environment) -> T:
    """The module's settings for ``env``: its own entry, else its tier's default."""
    value = lookup(table, env)
    if value is None:
        from ..environments import ENVIRONMENTS

        missing = _missing(table, [*ENVIRONMENTS, env])
        raise MissingSettings(
            f"{module.replace('.', '/')}.py: SETTINGS = {_keys(table)}: no settings for "
            + ", ".join(f"environment {e.name!r} (tier {e.tier.name})" for e in missing)
            + f": add SETTINGS[Tier.{env.tier.name}] (the default for every {env.tier.value} environment) or "
            f"SETTINGS[{env.name!r}]")
    return value


def _missing(table: Mapping[Key, object], environments: Iterable[Environment]) -> list[Environment]:
    return list({e.name: e for e in environments if lookup(table, e) is None}.values())


def _keys(table: Mapping[Key, object]) -> str:
    return "{" + ", ".join(f"Tier.{k.name}" if isinstance(k, Tier) else repr(k) for k in table) + "}"
