"""Builds the App: for each environment, its infra, vault and service stacks, or only the
stacks named in ``HASHISTACK_STACKS``.

Each layer's module is imported only when one of its stacks is built, and each stack imports
only its own provider packages: ``HASHISTACK_STACKS=prod`` (the daily service deploy) never
loads the AWS provider's jsii assembly, which costs most of a full synth. The layers meet
through names in the environment's settings, never through cross-stack references, so a stack
built alone synthesizes to the same bytes as in the full app. cdktf itself is imported only
when the App is built, after the selection and the services of the selected environments
are checked and planned (once each, :func:`stacks.apps.services`): a service's bad input stops the synth before any provider package loads.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from typing import TYPE_CHECKING, Iterable, Sequence

from hashistack import Environment, HashistackError
from hashistack.environment import check_environments

from .environments import ENVIRONMENTS

if TYPE_CHECKING:
    from cdktf import App

__all__ = ["STACKS_VARIABLE", "build_app", "select_stacks", "stack_names"]

STACKS_VARIABLE = "HASHISTACK_STACKS"
"""The environment variable that selects the stacks to build: comma-separated names or globs."""

# The stack class of each position of ``Environment.stack_names`` (infra, vault, services), as
# (module of this package, class name): imported on first use.
_LAYERS = (("infra", "InfraStack"), ("vault", "VaultStack"), ("services", "ServicesStack"))


def stack_names(environments: Iterable[Environment] = ENVIRONMENTS) -> list[str]:
    """Every stack of the app, environment by environment in bring-up order."""
    return [name for env in environments for name in env.stack_names]


def select_stacks(selection: str | None, names: Sequence[str]) -> set[str]:
    """The stacks of ``names`` that ``selection`` picks: comma-separated names or globs
    (``prod``, ``*-vault``, ``dev*,uat``). Unset or blank selects every stack; an item that
    matches no stack raises :class:`HashistackError` listing the stacks."""
    if selection is None or not selection.strip():
        return set(names)
    chosen: set[str] = set()
    for item in (part.strip() for part in selection.split(",")):
        if not item:
            continue
        matches = [n for n in names if fnmatch.fnmatchcase(n, item)]  # a name without *?[ matches itself only
        if not matches:
            raise HashistackError(
                f"app: {STACKS_VARIABLE} = {selection!r}: no stack {'matches' if _is_glob(item) else 'is named'} "
                f"{item!r}; the stacks are {', '.join(names)} (give names or globs such as '*-vault', "
                "comma-separated, or unset it to build all)")
        chosen.update(matches)
    return chosen


def _is_glob(item: str) -> bool:
    return any(c in item for c in "*?[")


def build_app(*, outdir: str | None = None, environments: Iterable[Environment] = ENVIRONMENTS,
              stacks: str | None = None) -> App:
    """The App with three stacks per environment: ``<env>-infra``, ``<env>-vault`` and ``<env>``.

    ``stacks`` selects which of them are built (comma-separated names or globs); it defaults to
    the ``HASHISTACK_STACKS`` environment variable, and when that is unset or blank every stack
    is built. A stack that is not selected is not constructed at all, and the modules of a layer
    none of whose stacks is selected are not imported.
    """
    environments = tuple(environments)
    check_environments(environments)
    selection = os.environ.get(STACKS_VARIABLE) if stacks is None else stacks
    chosen = select_stacks(selection, stack_names(environments))
    from .apps import services

    # Each environment's services, checked together and planned once, before the first provider
    # package loads (a bad input stops the synth within a second); the vault and service stacks
    # read the same catalogue.
    catalogues = {env.name: services(env) for env in environments if chosen.intersection(env.stack_names[1:])}
    from cdktf import App

    app = App(outdir=outdir) if outdir else App()
    for env in environments:
        for name, (module, cls) in zip(env.stack_names, _LAYERS, strict=True):
            if name in chosen:
                stack_class = getattr(importlib.import_module(f".{module}", __package__), cls)
                extra = {"services": catalogues[env.name]} if module != "infra" else {}
                stack_class(app, name, environment=env, **extra)
    return app
