"""The platform's services, one module each.

Every module here defines ``service(env) -> ServiceSpec``: what the service is in environment
``env``. The service stack ``<env>`` deploys each service's Nomad job from it, and the Vault
layer ``<env>-vault`` grants each service exactly the Vault access its job needs, from the same
spec. Adding a service is adding a module: no shared file to edit. Modules run in module-name
order; a module whose name starts with ``_`` is a helper, not a service.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from hashistack import Environment, HashistackError
from hashistack.service import ServiceSpec

from ._settings import MissingSettings


def service_modules() -> list[ModuleType]:
    """The service modules of this package, sorted by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def service_specs(env: Environment) -> list[ServiceSpec]:
    """Every service's spec in ``env``, in module order; a module that is not a service module,
    or two modules that name the same service, fail with the module names. Modules without
    settings for an environment are reported together, in one error."""
    specs: list[ServiceSpec] = []
    owners: dict[str, str] = {}
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
        declared = getattr(module, "NAME", spec.name)
        if spec.name != declared:
            raise HashistackError(f"{where}: name = {spec.name!r}: the module's NAME is {declared!r}; build the spec "
                                  "with ServiceSpec(name=NAME, ...) so that the job, its Vault access and the docs agree")
        registered = spec.service_name or spec.name
        for name, kind in ((spec.name, "name"), (registered, "service_name")):
            if name in owners:
                raise HashistackError(f"{where}: {kind} = {name!r}: already the name of the service in "
                                      f"{owners[name]}; give each service its own name")
        owners[spec.name] = where
        owners.setdefault(registered, where)
        specs.append(spec)
    if missing:
        raise HashistackError(" | ".join(missing))
    _check_upstreams(specs, env)
    return specs


def _check_upstreams(specs: list[ServiceSpec], env: Environment) -> None:
    """Every declared upstream is a service of this environment in Consul's mesh: a service
    registered in Nomad's own catalogue (``registration="nomad"``) has no sidecar to accept it."""
    registered = {spec.service_name or spec.name: spec for spec in specs}
    for spec in specs:
        for up in spec.upstreams:
            where = f"{env.name}/{spec.name}: upstreams[{up.service}].service = {up.service!r}"
            target = registered.get(up.service)
            if target is None:
                raise HashistackError(f"{where}: no service of environment {env.name!r} is registered under this "
                                      f"name; use one of {sorted(registered)}")
            if target.registration != "consul":
                raise HashistackError(f"{where}: {target.name} is registered in Nomad's own catalogue "
                                      "(registration='nomad'), outside the mesh, so it has no sidecar to accept "
                                      "the call: register it in Consul (the default)")


def check_services(env: Environment) -> None:
    """Plans every service of ``env``, its ingress proxy included, as the stacks ``<env>`` and
    ``<env>-vault`` will plan them, so that the first bad input raises its HashistackError.
    ``stacks/app.py`` calls it before any stack is built: a service's error then stops a synth
    within a second, before any provider package has loaded, rather than after the AWS
    provider (most of a full synth) has loaded for the stacks built before it."""
    from hashistack.ingress import with_ingress_proxy
    from hashistack.service import plan_service

    services_stack = env.stack_names[2]
    for spec in with_ingress_proxy(env, service_specs(env)):
        plan_service(spec, env, where=f"{services_stack}/{spec.name}")


def service_names(env: Environment | None = None) -> list[str]:
    """The names of the services deployed in ``env`` (default: in any environment of the app)."""
    if env is not None:
        return [spec.name for spec in service_specs(env)]
    from ..environments import ENVIRONMENTS

    return list(dict.fromkeys(name for e in ENVIRONMENTS for name in service_names(e)))
