"""Day-0 bootstrap of an environment: ``python -m hashistack.bootstrap --env <env> --phase ...``.

Phase ``secrets`` (before ``deploy <env>-infra``) writes every secret the nodes read at boot to
SSM; phase ``cluster`` (once the nodes are up) bootstraps Consul's and Nomad's ACLs and
initializes Vault. Both are idempotent and print names only, never values.

This package's top level stays import-light (the environment model imports its settings);
boto3, requests and cryptography load with the phase modules.
"""

from .settings import BootstrapSettings

__all__ = ["BootstrapSettings"]
