"""The platform's services, one module each.

Every module here defines ``service(env) -> ServiceSpec``: what the service is in environment
``env``. The service stack ``<env>`` deploys each service's Nomad job from it, and the Vault
layer ``<env>-vault`` grants each service exactly the Vault access its job needs, from the same
spec. Adding a service is adding a module: no shared file to edit. Modules run in module-name
order; a module whose name starts with ``_`` is a helper, not a service.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

from hashistack import Environment, HashistackError
from hashistack.catalogue import EnvironmentServices
from hashistack.releases import ReleaseManifest
from hashistack.service import ServiceSpec

from ._settings import MissingSettings


def service_modules() -> list[ModuleType]:
    """The service modules of this package, sorted by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def _declared(env: Environment) -> list[tuple[ServiceSpec, str]]:
    """Every module's spec in ``env`` with the module's file, in module order."""
    declared: list[tuple[ServiceSpec, str]] = []
    missing: list[str] = []
    for module in service_modules():
        where = f"{module.__name__.replace('.', '/')}.py"
        build = getattr(module, "service", None)
        if not callable(build):
            raise HashistackError(f"{where}: service = {build!r}: define service(env) -> ServiceSpec (or rename the "
                                  "module to start with '_' if it is a helper)")
        try:
            spec = build(env)
        except MissingSettings as error:  # report every module without settings at once
            missing.append(str(error))
            continue
        if not isinstance(spec, ServiceSpec):
            raise HashistackError(f"{where}: service({env.name!r}) = {type(spec).__name__}: return a "
                                  "hashistack.service.ServiceSpec")
        declared_name = getattr(module, "NAME", spec.name)
        if spec.name != declared_name:
            raise HashistackError(f"{where}: name = {spec.name!r}: the module's NAME is {declared_name!r}; build the "
                                  "spec with ServiceSpec(name=NAME, ...) so that the job, its Vault access and the "
                                  "docs agree")
        declared.append((spec, where))
    if missing:
        raise HashistackError(" | ".join(missing))
    manifest = releases(env).check_services([spec.name for spec, _ in declared])
    return [(dataclasses.replace(spec, release=manifest.releases[spec.name]) if spec.name in manifest.releases
             else spec, where) for spec, where in declared]


RELEASES = Path(__file__).resolve().parents[2] / "releases"
"""Where each environment's release manifest lives: ``releases/<env>.toml``."""


def releases(env: Environment) -> ReleaseManifest:
    """``env``'s release manifest: the version of each service that has one (``make promote``)."""
    return ReleaseManifest.load(RELEASES / f"{env.name}.toml", env.name)


def service_specs(env: Environment) -> list[ServiceSpec]:
    """Every service's spec in ``env``, in module order, as its module declares it; a module that
    is not a service module fails with the module's name, and modules without settings for an
    environment are reported together, in one error. :func:`services` checks them together."""
    return [spec for spec, _ in _declared(env)]


def services(env: Environment) -> EnvironmentServices:
    """The services of ``env`` checked together and planned once (names, upstreams, ingress
    routes, the ingress proxy, intentions): what the stacks ``<env>`` and ``<env>-vault`` read.
    A rule between services names the modules involved."""
    declared = _declared(env)
    return EnvironmentServices.build(env, [spec for spec, _ in declared], origins=[where for _, where in declared])


def service_names(env: Environment | None = None) -> list[str]:
    """The names of the services deployed in ``env`` (default: in any environment of the app)."""
    if env is not None:
        return [spec.name for spec in service_specs(env)]
    from ..environments import ENVIRONMENTS

    return list(dict.fromkeys(name for e in ENVIRONMENTS for name in service_names(e)))
