"""Per-environment settings lookup shared by the service modules."""

from __future__ import annotations

from typing import Mapping, TypeVar

from hashistack import Environment, HashistackError

T = TypeVar("T")


def settings_for(module: str, table: Mapping[str, T], env: Environment) -> T:
    """The module's settings for ``env``, or a clear error naming the missing environment."""
    try:
        return table[env.name]
    except KeyError:
        raise HashistackError(
            f"{module}: SETTINGS[{env.name!r}] is missing: add the service's settings for environment "
            f"{env.name!r} (known: {sorted(table)})") from None
