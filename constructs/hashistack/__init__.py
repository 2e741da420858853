"""hashistack: CDK for Terraform constructs for Go services on Nomad, Consul and Vault.

The top-level package holds the jsii-free models (importing it costs milliseconds);
the provider-backed constructs live in subpackages such as :mod:`hashistack.stack`.
"""

from .environment import (
    ClientPool,
    ConsulSettings,
    Environment,
    IngressSettings,
    LocalState,
    MachineImage,
    NetworkSettings,
    NomadSettings,
    ProductPackages,
    S3State,
    Tier,
    VaultSettings,
)
from .errors import HashistackError

__version__ = "0.1.0"

__all__ = [
    "ClientPool",
    "ConsulSettings",
    "Environment",
    "HashistackError",
    "IngressSettings",
    "LocalState",
    "MachineImage",
    "NetworkSettings",
    "NomadSettings",
    "ProductPackages",
    "S3State",
    "Tier",
    "VaultSettings",
    "__version__",
]
