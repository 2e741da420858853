"""The prebuilt provider packages, loaded one submodule at a time.

A prebuilt cdktf provider package (``cdktf_cdktf_provider_aws`` and its kin) imports every one of
its submodules from its ``__init__``: one per resource and data source of the provider, 2,135 for
AWS (about 210 MB of generated Python), only so that each class registers itself with the jsii
runtime. Importing ``cdktf_cdktf_provider_aws.vpc`` therefore executes all of them, about 10 s of
CPU with compiled bytecode and about 35 s without, of which a synth of this project's stacks
needs some forty.

:func:`load_on_demand` (called when :mod:`hashistack` is imported) makes Python load such a
package as the jsii runtime's own lazy-loading support expects (``jsii._reference_map``,
``_try_import_type_module`` in the pinned jsii 1.142): the package's assembly is loaded into the jsii kernel
as before (its ``_jsii`` module), a submodule is imported when it is first named
(``from cdktf_cdktf_provider_aws.vpc import Vpc``, or the attribute ``cdktf_cdktf_provider_aws.vpc``),
and the runtime is given the map from each jsii submodule to its Python module
(``_SUBMODULE_FQN_MAP``, which newer generated packages ship themselves) so that an object of a
type whose submodule was never imported is still resolved, by importing that submodule. A type
the map does not cover fails loudly ("Unknown type"), never silently. The synthesized output is
the same bytes either way (tests/stacks/test_provider_packages.py).

Only the packages in :data:`PACKAGES` are affected, and only if they were not imported before
:mod:`hashistack`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types

__all__ = ["PACKAGES", "load_on_demand", "submodule_fqn_map"]

PACKAGES = (
    "cdktf_cdktf_provider_aws",
    "cdktf_cdktf_provider_consul",
    "cdktf_cdktf_provider_nomad",
    "cdktf_cdktf_provider_vault",
)
"""The prebuilt provider packages the library uses."""


def submodule_fqn_map(package: str, directory: str, assembly: str) -> dict[str, str]:
    """jsii submodule FQN -> Python module, for the submodule directories of ``package`` in
    ``directory``: jsii-pacmak names a submodule ``<assembly>.<lowerCamelCase>`` and its Python
    module ``<package>.<snake_case>`` (``@cdktf/provider-aws.vpcSecurityGroupIngressRule`` ->
    ``cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule``)."""
    fqns = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith(("_", ".")):
                head, *rest = entry.name.split("_")
                fqns[f"{assembly}.{head}{''.join(part[:1].upper() + part[1:] for part in rest)}"] = \
                    f"{package}.{entry.name}"
    return fqns


class _OnDemandLoader(importlib.abc.Loader):
    """Executes a provider package as its assembly and a lazy attribute lookup, not its ``__init__``."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__

        def __getattr__(attribute: str) -> types.ModuleType:
            if attribute.startswith("__"):
                raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
            try:
                return importlib.import_module(f"{name}.{attribute}")
            except ModuleNotFoundError as error:
                if error.name != f"{name}.{attribute}":
                    raise
                raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        jsii_module = importlib.import_module(f"{name}._jsii")  # loads the assembly into the kernel
        from jsii import _reference_map

        assembly = jsii_module.__jsii_assembly__.name
        if not any(fqn.startswith(f"{assembly}.") for fqn in _reference_map._submodule_fqn_map):
            _reference_map._submodule_fqn_map.update(
                submodule_fqn_map(name, os.path.dirname(module.__file__ or ""), assembly))


class _OnDemandFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname)
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec.loader = _OnDemandLoader()
        return spec


_FINDER = _OnDemandFinder()


def load_on_demand() -> None:
    """Loads the provider packages of :data:`PACKAGES` imported from now on one submodule at a
    time (see the module's docstring). Idempotent."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
