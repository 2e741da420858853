"""The platform's environments, as data. Adding an environment is adding an entry here."""

from __future__ import annotations

from hashistack import (
    ClientPool,
    ConsulSettings,
    Environment,
    LocalState,
    NetworkSettings,
    NomadSettings,
    S3State,
    Tier,
    VaultSettings,
)

_TAGS = {"owner": "platform-team", "managed-by": "hashistack-cdk"}

DEV = Environment(
    name="dev",
    tier=Tier.DEVELOPMENT,
    region="eu-west-1",
    account_id="111111111111",
    domain="dev.example.internal",
    tags={**_TAGS, "cost-center": "engineering"},
    network=NetworkSettings(vpc_cidr="10.10.0.0/16", az_count=2, operator_cidrs=("10.200.0.0/24",)),
    nomad=NomadSettings(address="https://nomad.dev.example.internal:4646", server_count=1),
    consul=ConsulSettings(address="https://consul.dev.example.internal:8501", server_count=1),
    vault=VaultSettings(address="https://vault.dev.example.internal:8200", server_count=1),
    clients=ClientPool(instance_type="t3.large", min_size=1, max_size=3),
    state=LocalState(),
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
                        audit_devices=("file", "syslog")),
    clients=ClientPool(instance_type="m6i.large", min_size=2, max_size=6),
    state=S3State(bucket="example-tfstate-uat", lock_table="example-tfstate-lock-uat"),
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
                        audit_devices=("file", "syslog"), kv_max_versions=20, instance_type="m6i.large"),
    clients=ClientPool(instance_type="m6i.xlarge", min_size=3, max_size=12, desired_size=4),
    state=S3State(bucket="example-tfstate-prod", lock_table="example-tfstate-lock-prod"),
)

ENVIRONMENTS: tuple[Environment, ...] = (DEV, UAT, PROD)
