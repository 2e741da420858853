"""The platform's environments, as data. Adding an environment is adding an entry here."""

from __future__ import annotations

from hashistack import (
    ClientPool,
    ConsulSettings,
    Environment,
    IngressSettings,
    LocalState,
    MachineImage,
    NetworkSettings,
    NomadSettings,
    S3State,
    Tier,
    VaultSettings,
)
from hashistack.vault import LoginMethod, LoginRole

_TAGS = {"owner": "platform-team", "managed-by": "hashistack-cdk"}
_CA_ORG = "Example Org"
# The Debian 13 release uat and prod run (dev takes the newest): rolling the nodes to a new image
# is changing this name, uat first. The newest release's name:
#   aws ec2 describe-images --owners 136693071363 --filters 'Name=name,Values=debian-13-amd64-*' \
#     --query 'sort_by(Images, &CreationDate)[-1].Name'
_IMAGE = MachineImage(name="debian-13-amd64-20251117-2299")
# The company network, from which the internal load balancers of dev and uat are reached.
_COMPANY_CIDRS = ("10.200.0.0/16",)


def _certificate(account: str, cert_id: str) -> str:
    """The ACM certificate for ``*.<public_domain>`` in the environment's account."""
    return f"arn:aws:acm:eu-west-1:{account}:certificate/{cert_id}"


def _logins(env: str) -> tuple[LoginMethod, ...]:
    """Operators log in through the company's identity provider (members of the group
    ``platform-operators``); the CI pipeline of the platform repository's main branch logs in
    with its signed pipeline token as ci-deployer."""
    vault = f"https://vault.{env}.example.internal:8200"
    return (
        LoginMethod.oidc(
            discovery_url="https://login.example.com", client_id=f"vault-{env}",
            redirect_uris=(f"{vault}/ui/vault/auth/oidc/oidc/callback", "http://localhost:8250/oidc/callback"),
            roles=(
                LoginRole(name="operator", policies=("platform-operator",), groups_claim="groups",
                          bound_claims={"groups": ("platform-operators",)}),
                LoginRole(name="auditor", policies=("auditor",), groups_claim="groups",
                          bound_claims={"groups": ("security-auditors",)}),
            )),
        LoginMethod.ci_jwt(
            discovery_url="https://ci.example.com",
            roles=(LoginRole(name="ci-deployer", policies=("ci-deployer",), bound_audiences=(vault,),
                             bound_claims={"project_path": "platform/hashistack", "ref": "main",
                                           "ref_protected": "true"}, token_ttl_s=900),)),
    )


DEV = Environment(
    name="dev",
    tier=Tier.DEVELOPMENT,
    region="eu-west-1",
    account_id="111111111111",
    domain="dev.example.internal",
    tags={**_TAGS, "cost-center": "engineering"},
    network=NetworkSettings(vpc_cidr="10.10.0.0/16", az_count=2, operator_cidrs=("10.200.0.0/24",)),
    # my-go-app asks for memory_max_mib in dev: the <env> stack enables oversubscription.
    nomad=NomadSettings(address="https://nomad.dev.example.internal:4646", server_count=1,
                        memory_oversubscription=True),
    consul=ConsulSettings(address="https://consul.dev.example.internal:8501", server_count=1),
    vault=VaultSettings(address="https://vault.dev.example.internal:8200", server_count=1,
                        pki_ca_organization=_CA_ORG, pki_prevent_destroy=False,
                        nomad_ca_pem_path="stacks/pki/dev-cluster-ca.pem", login_methods=(LoginMethod.userpass(),)),
    clients=ClientPool(instance_type="t3.large", min_size=1, max_size=3),
    state=LocalState(),
    ingress=IngressSettings(public_domain="dev.example.com", internet_facing=False, allowed_cidrs=_COMPANY_CIDRS,
                            certificate_arn=_certificate("111111111111", "0a1b2c3d-4e5f-4a0b-8c9d-0e1f2a3b4c5d")),
)

UAT = Environment(
    name="uat",
    tier=Tier.STAGING,
    region="eu-west-1",
    account_id="222222222222",
    domain="uat.example.internal",
    tags={**_TAGS, "cost-center": "engineering"},
    network=NetworkSettings(vpc_cidr="10.20.0.0/16", az_count=3, operator_cidrs=("10.200.0.0/24",)),
    nomad=NomadSettings(address="https://nomad.uat.example.internal:4646", server_count=3),
    consul=ConsulSettings(address="https://consul.uat.example.internal:8501", server_count=3),
    vault=VaultSettings(address="https://vault.uat.example.internal:8200", server_count=3,
                        audit_devices=("file", "syslog"), pki_ca_organization=_CA_ORG,
                        nomad_ca_pem_path="stacks/pki/uat-cluster-ca.pem", login_methods=_logins("uat")),
    clients=ClientPool(instance_type="m6i.large", min_size=2, max_size=6),
    machine_image=_IMAGE,
    state=S3State(bucket="example-tfstate-uat",
                  kms_key_id="arn:aws:kms:eu-west-1:222222222222:alias/hashistack-tfstate"),
    ingress=IngressSettings(public_domain="uat.example.com", internet_facing=False, allowed_cidrs=_COMPANY_CIDRS,
                            certificate_arn=_certificate("222222222222", "1b2c3d4e-5f6a-4b1c-9d0e-1f2a3b4c5d6e")),
)

PROD = Environment(
    name="prod",
    tier=Tier.PRODUCTION,
    region="eu-west-1",
    account_id="333333333333",
    domain="prod.example.internal",
    tags={**_TAGS, "cost-center": "production"},
    network=NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=3, operator_cidrs=("10.200.0.0/24",)),
    nomad=NomadSettings(address="https://nomad.prod.example.internal:4646", server_count=3,
                        instance_type="m6i.large"),
    consul=ConsulSettings(address="https://consul.prod.example.internal:8501", server_count=3),
    vault=VaultSettings(address="https://vault.prod.example.internal:8200", server_count=5,
                        audit_devices=("file", "syslog"), kv_max_versions=20, instance_type="m6i.large",
                        pki_ca_organization=_CA_ORG, nomad_ca_pem_path="stacks/pki/prod-cluster-ca.pem",
                        login_methods=_logins("prod")),
    clients=ClientPool(instance_type="m6i.xlarge", min_size=3, max_size=12, desired_size=4),
    machine_image=_IMAGE,
    state=S3State(bucket="example-tfstate-prod",
                  kms_key_id="arn:aws:kms:eu-west-1:333333333333:alias/hashistack-tfstate"),
    ingress=IngressSettings(public_domain="example.com",
                            certificate_arn=_certificate("333333333333", "2c3d4e5f-6a7b-4c2d-8e1f-2a3b4c5d6e7f")),
)

ENVIRONMENTS: tuple[Environment, ...] = (DEV, UAT, PROD)
