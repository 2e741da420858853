"""The task's environment: Go-aware defaults and the user's variables."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

from ..nomad.interpolation import unknown_interpolations
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["check_interpolations", "runtime_env"]


def runtime_env(ctx: "ServiceContext") -> Contribution:
    """``GOMAXPROCS`` from the CPU reservation and ``GOMEMLIMIT`` at 90% of the memory ceiling
    unless ``env`` sets them, then the user's ``env``."""
    spec = ctx.spec
    ceiling = spec.memory_max_mib or spec.memory_mib
    defaults = {
        "GOMAXPROCS": str(max(1, math.ceil(spec.cpu_mhz / 1000))),
        "GOMEMLIMIT": f"{max(1, (ceiling * 9) // 10)}MiB",
    }
    return Contribution(env=tuple((key, "env") for key in spec.env), task_env=dict(spec.env), env_defaults=defaults)


def check_interpolations(ctx: "ServiceContext", variables: Mapping[str, str], task_env: Mapping[str, str]) -> None:
    """Each ``${...}`` in the user's ``env`` is a variable Nomad resolves, and not another of the
    task's own variables (``variables``: every variable a contribution sets)."""
    spec, check = ctx.spec, ctx.check
    own = frozenset(variables) | frozenset(task_env)
    for key, value in sorted(spec.env.items()):
        unknown = unknown_interpolations(value, version=ctx.env.nomad.version)
        if unknown and unknown[0] in own:
            # client/taskenv/env.go, Builder.Build: task env values are interpolated against the
            # NOMAD_* and node variables while the task's own variables are copied in map order,
            # and template env vars only after: a reference to another of the task's variables
            # resolves sometimes or never.
            check.fail(f"env[{key}]", value,
                       f"${{{unknown[0]}}} is another variable of the task, which Nomad does not resolve reliably "
                       "(task variables are interpolated in no fixed order, template variables after them): "
                       "repeat the value, or have the program read both variables")
        check.require(not unknown, f"env[{key}]", value,
                      f"Nomad {ctx.env.nomad.version} does not resolve ${{{unknown[0] if unknown else ''}}} and would "
                      "pass it on literally: use a NOMAD_* variable, node.*, attr.* or meta.* "
                      "(client/taskenv/env.go)")
