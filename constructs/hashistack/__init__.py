"""hashistack: CDK for Terraform constructs for Go services on Nomad, Consul and Vault.

The top-level package holds the jsii-free models (importing it costs milliseconds);
the provider-backed constructs live in subpackages such as :mod:`hashistack.stack`. Importing it
also makes the prebuilt provider packages load one submodule at a time
(:mod:`hashistack.provider_packages`), which saves a synth most of its time.
"""

from .environment import (
    ClientHostVolume,
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
from .provider_packages import load_on_demand as _load_provider_packages_on_demand

_load_provider_packages_on_demand()

__version__ = "0.1.0"

__all__ = [
    "ClientHostVolume",
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
