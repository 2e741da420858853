"""Builds the App: for each environment, its infra, vault and service stacks."""

from __future__ import annotations

from typing import Iterable

from cdktf import App

from hashistack import Environment

from .environments import ENVIRONMENTS
from .infra import InfraStack
from .services import ServicesStack
from .vault import VaultStack


def build_app(*, outdir: str | None = None, environments: Iterable[Environment] = ENVIRONMENTS) -> App:
    """The App with three stacks per environment: ``<env>-infra``, ``<env>-vault`` and ``<env>``."""
    app = App(outdir=outdir) if outdir else App()
    for env in environments:
        infra, vault, services = env.stack_names
        InfraStack(app, infra, environment=env)
        VaultStack(app, vault, environment=env)
        ServicesStack(app, services, environment=env)
    return app
