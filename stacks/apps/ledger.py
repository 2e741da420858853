"""ledger: a gRPC service whose database credentials arrive as environment variables and whose
image comes from a private registry with credentials held in Vault. It registers in Consul: Nomad's
own catalogue runs only http and tcp checks, and ledger's health is a gRPC check.

It is internal (no ingress): in the service mesh, reachable only through its sidecar by the
services whose declared upstreams name it (my-go-app), as Consul's intentions allow."""

from __future__ import annotations

from dataclasses import dataclass

from hashistack import Environment, Tier
from hashistack.service import HealthCheck, RegistryAuth, ServiceSpec, Tls, Update, VaultSecret

from ._settings import settings_for

NAME = "ledger"
IMAGE = "registry.example.com/platform/ledger:0.9.3"


@dataclass(frozen=True, kw_only=True)
class Settings:
    count: int
    cpu_mhz: int
    memory_mib: int
    update: Update
    log_level: str


# Per tier; a new environment inherits its tier's settings (an environment name as key overrides).
SETTINGS = {
    Tier.DEVELOPMENT: Settings(count=1, cpu_mhz=250, memory_mib=128, update=Update.rolling(), log_level="debug"),
    Tier.STAGING: Settings(count=2, cpu_mhz=500, memory_mib=512, update=Update.rolling(), log_level="info"),
    Tier.PRODUCTION: Settings(count=2, cpu_mhz=1000, memory_mib=1024, update=Update.blue_green(auto_promote=True),
                     log_level="info"),
}


def service(env: Environment) -> ServiceSpec:
    s = settings_for(__name__, SETTINGS, env)
    return ServiceSpec(
        name=NAME,
        image=IMAGE,
        port=9090,
        port_label="grpc",
        count=s.count,
        registry_auth=RegistryAuth.from_vault("registry/platform"),
        secrets=(VaultSecret.kv_env("ledger/database", env={"DB_USER": "username", "DB_PASSWORD": "password"}),),
        tls=Tls(ttl_h=48, mount_dir="/etc/ledger/tls"),
        # Consul's agents trust the cluster CA, not the Vault PKI that issues ledger's certificate:
        # the check speaks TLS without verifying it (liveness, not identity), to ledger's own
        # address in its allocation (the local Consul agent reaches it; it serves TLS itself).
        health=HealthCheck.grpc("ledger.v1.Ledger", interval_s=5, timeout_s=1, tls="skip-verify"),
        update=s.update,
        cpu_mhz=s.cpu_mhz, memory_mib=s.memory_mib,
        env={"LOG_LEVEL": s.log_level, "GRPC_LISTEN": ":9090"},
        tags=("grpc",),
        user="65532:65532",
    )
