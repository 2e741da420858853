"""`<env>-vault`: the Vault platform layer every service relies on."""

from __future__ import annotations

from pathlib import Path

from constructs import Construct

from hashistack import Environment, HashistackError
from hashistack.stack import EnvironmentStack
from hashistack.vault import (
    AuditDevice,
    KvV2,
    NomadWorkloadIdentityAuth,
    VaultPki,
    VaultPolicy,
    WorkloadIdentityAuth,
)
from hashistack.vault.platform_policies import auditor_policy, deployer_policy, operator_policy

from .apps import service_names


class VaultStack(EnvironmentStack):
    """KV v2 for service secrets, the two-tier PKI, Nomad workload-identity auth, the platform
    policies (operator, CI deployer, auditor) and the audit devices."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_vault_provider()
        vault = environment.vault
        for kind in vault.audit_devices:
            AuditDevice(self, f"audit-{kind}", kind=kind)
        KvV2(self, "kv", path=vault.kv_mount, max_versions=vault.kv_max_versions,
             delete_version_after_s=vault.kv_delete_version_after_s)
        VaultPki(self, "pki", hierarchy=vault.pki, vault_address=vault.address, common_name=environment.domain,
                 organization=environment.tags.get("owner"))
        NomadWorkloadIdentityAuth(self, "nomad-auth", auth=WorkloadIdentityAuth(
            path=vault.jwt_auth_path, nomad_address=environment.nomad.address,
            jwks_ca_pem=_read_pem(vault.nomad_ca_pem_path, id)))
        for policy in (operator_policy(vault), deployer_policy(vault, service_names()), auditor_policy(vault)):
            VaultPolicy(self, f"policy-{policy.name}", policy=policy)


def _read_pem(path: str | None, stack: str) -> str | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise HashistackError(f"{stack}: vault.nomad_ca_pem_path = {path!r}: no such file; give the PEM of the CA "
                              "behind Nomad's HTTPS certificate (a public certificate, not a key)")
    return file.read_text(encoding="utf-8")
