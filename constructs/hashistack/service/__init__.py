"""GoService and its options.

The options and the plan are plain Python; :class:`GoService` (which loads cdktf and the Nomad
and Vault providers) is imported on first use, so model-only code and tests stay jsii-free.
"""

from typing import Any

from ..consul.intentions import Upstream
from .context import Contribution, File, Option, ServiceContext
from .files import ConfigFile
from .health import HealthCheck
from .ingress import Ingress, IngressRoute
from .logs import Logs
from .on_change import OnChange
from .plan import ServicePlan, plan_service
from .registry import RegistryAuth
from .rollout import Update
from .secrets import VaultSecret
from .spec import ServiceSpec
from .tls import Tls

__all__ = [
    "ConfigFile",
    "Contribution",
    "File",
    "GoService",
    "HealthCheck",
    "Ingress",
    "IngressRoute",
    "Logs",
    "OnChange",
    "Option",
    "RegistryAuth",
    "ServiceContext",
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
