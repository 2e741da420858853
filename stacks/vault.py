"""`<env>-vault`: the access layer. Vault (the platform's mounts and policies, every service's Vault
access) and Consul (workload-identity login for Nomad's jobs, the mesh's intentions)."""

from __future__ import annotations

from pathlib import Path

from constructs import Construct

from hashistack import Environment, HashistackError, Tier
from hashistack.catalogue import EnvironmentServices
from hashistack.consul import NomadWorkloadsAuth
from hashistack.contracts import certifiable_domains, jwt_auth_path
from hashistack.service.go_service import ServiceVaultAccess
from hashistack.stack import EnvironmentStack
from hashistack.vault import (
    AuditDevice,
    KvV2,
    NomadWorkloadIdentityAuth,
    VaultLogin,
    VaultPki,
    VaultPolicy,
    WorkloadIdentityAuth,
)
from hashistack.vault.platform_policies import auditor_policy, deployer_policy, operator_policy

from .apps import services as service_catalogue

ROOT = Path(__file__).resolve().parent.parent


class VaultStack(EnvironmentStack):
    """KV v2 for service secrets, the two-tier PKI, Nomad workload-identity auth, the operators'
    and CI's login methods, the platform policies (operator, CI deployer, auditor), the audit
    devices, and each service's own policy, JWT role and PKI role. In Consul: the auth method
    ``nomad-workloads`` through which Nomad's sidecars and tasks get their Consul tokens, and the
    intentions (default deny, plus exactly the declared upstream and ingress edges).

    Applied by operators (never by the CI identity that deploys jobs): it decides what every
    identity may read and issue, and which service may call which."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 services: EnvironmentServices | None = None) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_vault_provider()
        self.add_consul_provider()
        env, vault = environment, environment.vault
        for kind in vault.audit_devices:
            AuditDevice(self, f"audit-{kind}", kind=kind)
        KvV2(self, "kv", path=vault.kv_mount, max_versions=vault.kv_max_versions,
             delete_version_after_s=vault.kv_delete_version_after_s)
        pki = VaultPki(self, "pki", hierarchy=vault.pki, vault_address=vault.address,
                       common_name=vault.pki_ca_common_name or env.domain, organization=vault.pki_ca_organization,
                       # every name a service's certificate may carry (contracts.service_tls_names)
                       permitted_dns_domains=certifiable_domains(env),
                       prevent_destroy=vault.pki_prevent_destroy)
        auth = NomadWorkloadIdentityAuth(self, "nomad-auth", auth=WorkloadIdentityAuth(
            path=jwt_auth_path(env), nomad_address=env.nomad.address, supported_algs=vault.jwt_supported_algs,
            jwks_ca_pem=_read_pem(vault.nomad_ca_pem_path, id)))
        for method in vault.login_methods:
            VaultLogin(self, f"login-{method.path.replace('/', '-')}", method=method,
                       development=env.tier is Tier.DEVELOPMENT)
        catalogue = services or service_catalogue(env)
        deployed = catalogue.deployed  # the services and, with ingress settings, the ingress proxy
        for policy in (operator_policy(vault), deployer_policy(vault, [s.name for s in deployed]), auditor_policy(vault)):
            VaultPolicy(self, f"policy-{policy.name}", policy=policy)
        self.services = [
            ServiceVaultAccess(self, f"service-{spec.name}", plan=catalogue.plan(spec.name), environment=env,
                               jwt_backend_ref=auth.backend.path, pki_mount_ref=pki.intermediate_mount.path)
            for spec in deployed
        ]
        self._consul_access(env, catalogue)

    def _consul_access(self, env: Environment, catalogue: EnvironmentServices) -> None:
        """Consul's side: the workload-identity auth method (the same JWKS and CA as Vault's), each
        Consul service's identity bound to the job that runs it, and the intentions derived from
        the services' upstreams and ingresses."""
        from hashistack.consul import MeshIdentity, NomadWorkloadsAuthMethod, ServiceIntentions

        jobs = [catalogue.plan(spec.name).job for spec in catalogue.deployed]
        identities = tuple(MeshIdentity(service=service.name, job_id=job.id, namespace=job.namespace)
                           for job in jobs for group in job.groups for service in group.services
                           if (service.provider or "consul") == "consul")
        self.consul_auth = NomadWorkloadsAuthMethod(self, "consul-auth", auth=NomadWorkloadsAuth(
            nomad_address=env.nomad.address, jwks_ca_pem=_read_pem(env.vault.nomad_ca_pem_path, self.node.id),
            namespaces=tuple(sorted({job.namespace for job in jobs})) or ("default",), services=identities))
        self.intentions = ServiceIntentions(self, "intentions", intentions=catalogue.intentions)


def _read_pem(path: str | None, stack: str) -> str | None:
    if path is None:
        return None
    file = ROOT / path
    if not file.is_file():
        raise HashistackError(f"{stack}: vault.nomad_ca_pem_path = {path!r}: no such file; give the PEM of the CA "
                              "behind Nomad's HTTPS certificate (a public certificate, not a key), relative to the "
                              "project root")
    return file.read_text(encoding="utf-8")
