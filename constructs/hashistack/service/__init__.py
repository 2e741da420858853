"""GoService and its options.

The options and the plan are plain Python; :class:`GoService` (which loads cdktf and the Nomad
and Vault providers) is imported on first use, so model-only code and tests stay jsii-free.
"""

from typing import Any

from ..consul.intentions import Upstream
from .options import ConfigFile, HealthCheck, Ingress, Logs, OnChange, RegistryAuth, Tls, Update, VaultSecret
from .plan import IngressRoute, ServicePlan, ServiceSpec, plan_service

__all__ = [
    "ConfigFile",
    "GoService",
    "HealthCheck",
    "Ingress",
    "IngressRoute",
    "Logs",
    "OnChange",
    "RegistryAuth",
    "ServicePlan",
    "ServiceSpec",
    "Tls",
    "Update",
    "Upstream",
    "VaultSecret",
    "plan_service",
]


def __getattr__(name: str) -> Any:
    if name == "GoService":
        from .go_service import GoService

        return GoService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
