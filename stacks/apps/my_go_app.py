"""my-go-app: the HTTP service from the migration questions (config file, Vault secrets, TLS,
/health, rolling update with a canary). Users reach it at ``my-go-app.<public domain>`` through
the ingress tier; it calls ledger through the mesh at ``127.0.0.1:9091`` (``LEDGER_ADDR``)."""

from __future__ import annotations

from dataclasses import dataclass

from hashistack import Environment, Tier
from hashistack.service import (
    ConfigFile,
    HealthCheck,
    Ingress,
    Logs,
    ServiceSpec,
    Tls,
    Update,
    VaultSecret,
    Upstream,
)

from ._settings import settings_for

NAME = "my-go-app"
IMAGE = "registry.example.com/platform/my-go-app:1.4.2"


@dataclass(frozen=True, kw_only=True)
class Settings:
    count: int
    cpu_mhz: int
    memory_mib: int
    memory_max_mib: int | None
    db_host: str
    api_endpoint: str
    debug: bool
    log_level: str
    new_checkout: bool
    tls_ttl_h: int
    log_files: int
    tags: tuple[str, ...]


# Per tier; a new environment inherits its tier's settings (an environment name as key overrides).
SETTINGS = {
    Tier.DEVELOPMENT: Settings(count=1, cpu_mhz=500, memory_mib=256, memory_max_mib=512,
                    db_host="db.dev.example.internal", api_endpoint="https://api.dev.example.internal",
                    debug=True, log_level="debug", new_checkout=True, tls_ttl_h=24, log_files=3,
                    tags=("http", "team-checkout")),
    Tier.STAGING: Settings(count=2, cpu_mhz=1000, memory_mib=1024, memory_max_mib=None,
                    db_host="db.uat.example.internal", api_endpoint="https://api.uat.example.internal",
                    debug=False, log_level="info", new_checkout=True, tls_ttl_h=72, log_files=5,
                    tags=("http", "team-checkout")),
    Tier.PRODUCTION: Settings(count=3, cpu_mhz=2000, memory_mib=2048, memory_max_mib=None,
                     db_host="db.prod.example.internal", api_endpoint="https://api.example.com",
                     debug=False, log_level="warn", new_checkout=False, tls_ttl_h=72, log_files=10,
                     tags=("http", "team-checkout", "public")),
}


# ledger, reached through the sidecar: the app dials LEDGER_ADDR, the sidecar carries the call
# over mutual TLS, and Consul's intention my-go-app -> ledger allows it.
LEDGER = Upstream("ledger", local_port=9091)


def service(env: Environment) -> ServiceSpec:
    s = settings_for(__name__, SETTINGS, env)
    # Published at my-go-app.<public domain> where the environment has an ingress tier; an
    # environment without one (Environment.ingress = None) keeps it internal.
    public_host = f"my-go-app.{env.ingress.public_domain}" if env.ingress else None
    return ServiceSpec(
        name=NAME,
        image=IMAGE,
        port=8080,
        count=s.count,
        config_files=(ConfigFile.from_path("services/my-go-app/app.conf", mount_at="/app/config/app.conf"),),
        secrets=(VaultSecret.kv("my-go-app/config", mount_at="/app/config/secrets.json"),),
        # The certificate also carries the public host: the ingress proxy verifies it by that name.
        tls=Tls(alt_names=(f"my-go-app.{env.domain}", *((public_host,) if public_host else ())), ttl_h=s.tls_ttl_h,
                mount_dir="/app/tls"),
        # Consul's agents trust the cluster CA, not the Vault PKI: TLS without verification. The
        # check reaches the app at its own address in the allocation (it serves TLS itself).
        health=HealthCheck.http("/health", tls="skip-verify"),
        upstreams=(LEDGER,),
        ingress=Ingress.https(host=public_host) if public_host else None,
        # The program reloads its config and certificate on SIGHUP (README: "Reloading on SIGHUP").
        reloads_on="SIGHUP",
        user="65532:65532",
        update=Update.canary(1),
        cpu_mhz=s.cpu_mhz, memory_mib=s.memory_mib, memory_max_mib=s.memory_max_mib,
        env={
            "DB_HOST": s.db_host,
            "API_ENDPOINT": s.api_endpoint,
            "DEBUG": str(s.debug).lower(),
            "LOG_LEVEL": s.log_level,
            "FEATURE_NEW_CHECKOUT": str(s.new_checkout).lower(),
            "INSTANCE_ID": "${NOMAD_ALLOC_ID}",
            "NODE_NAME": "${attr.unique.hostname}",
            "LEDGER_ADDR": f"127.0.0.1:{LEDGER.local_port}",
        },
        tags=s.tags,
        logs=Logs(max_files=s.log_files, max_file_size_mib=10),
    )
