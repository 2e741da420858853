"""The platform's services, one module each.

Every module here defines ``NAME`` (the service's name) and ``deploy(stack, environment)``; the service stack of each environment
calls them in module-name order. Adding a service is adding a module: no shared file to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def service_modules() -> list[ModuleType]:
    """The service modules of this package, sorted by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def service_names() -> list[str]:
    """The names of the services the app deploys (the Vault layer grants CI exactly these)."""
    return [module.NAME for module in service_modules()]
