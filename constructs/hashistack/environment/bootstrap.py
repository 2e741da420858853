"""The environment's day-0 bootstrap settings: plain data, validated with the environment.

Kept free of boto3 and cryptography so that :mod:`hashistack.environment` can hold it without
making every synth import them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Checker

__all__ = ["BootstrapSettings"]

HOURS_PER_YEAR = 8760
_KMS_KEY = re.compile(r"^(alias/[A-Za-z0-9/_-]{1,250}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                      r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+)$")
_PATH = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def _relative_path(value: object) -> bool:
    return (isinstance(value, str) and bool(_PATH.fullmatch(value)) and not value.startswith("/")
            and ".." not in value.split("/"))


@dataclass(frozen=True, kw_only=True)
class BootstrapSettings:
    """What ``make bootstrap`` creates for an environment and how.

    :param ssm_kms_key_id: the KMS key (alias, key id or ARN) that encrypts every SecureString
        parameter the bootstrap writes. Defaults to ``alias/aws/ssm``, the account's AWS-managed
        SSM key (the nodes decrypt through SSM with any key).
    :param ca_ttl_h: lifetime of the cluster CA the bootstrap creates. Defaults to 10 years.
    :param agent_cert_ttl_h: lifetime of each agent certificate (Nomad, Consul, Vault); at most
        ``ca_ttl_h``. Defaults to 1 year; ``--rotate <name>_cert`` reissues one.
    :param parent_ca_cert_path: PEM certificate of an operator-supplied CA. When set, the
        cluster CA is an intermediate signed by it instead of a self-signed root; its key is read
        from ``parent_ca_key_path`` at bootstrap time only (outside the repository, never stored).
        Defaults to none: a self-signed cluster CA.
    :param parent_ca_key_path: PEM private key of the parent CA, optionally encrypted (the
        passphrase from ``HASHISTACK_PARENT_CA_PASSPHRASE``). Required with ``parent_ca_cert_path``.
    :param recovery_pgp_key_paths: the Vault recovery keyholders' PGP public keys (paths relative
        to the project root; ASCII-armored, binary or base64 exports as ``gpg --export``
        writes them). ``operator init`` encrypts one recovery key to each. Outside development at
        least one is required. Defaults to none: in development the recovery keys are kept as one
        SecureString parameter instead.
    :param recovery_threshold: recovery keys needed for a quorum operation. Defaults to a
        majority of the keyholders.
    """

    ssm_kms_key_id: str = "alias/aws/ssm"
    ca_ttl_h: int = 10 * HOURS_PER_YEAR
    agent_cert_ttl_h: int = HOURS_PER_YEAR
    parent_ca_cert_path: str | None = None
    parent_ca_key_path: str | None = None
    recovery_pgp_key_paths: tuple[str, ...] = ()
    recovery_threshold: int | None = None

    @property
    def recovery_shares(self) -> int:
        return len(self.recovery_pgp_key_paths) or 1

    @property
    def threshold(self) -> int:
        return self.recovery_threshold or (self.recovery_shares // 2 + 1)

    def _validate(self, check: Checker, tier: object) -> None:
        check.require(isinstance(self.ssm_kms_key_id, str) and bool(_KMS_KEY.fullmatch(self.ssm_kms_key_id)),
                      "ssm_kms_key_id", self.ssm_kms_key_id,
                      "use a KMS key alias ('alias/hashistack-ssm'), key id or key ARN")
        for name in ("ca_ttl_h", "agent_cert_ttl_h"):
            value = getattr(self, name)
            check.require(isinstance(value, int) and not isinstance(value, bool) and 24 <= value <= 30 * HOURS_PER_YEAR,
                          name, value, "use whole hours from 24 (a day) to 262800 (30 years)")
        check.require(self.agent_cert_ttl_h <= self.ca_ttl_h, "agent_cert_ttl_h", self.agent_cert_ttl_h,
                      f"an agent certificate cannot outlive its CA (ca_ttl_h = {self.ca_ttl_h})")
        check.require((self.parent_ca_cert_path is None) == (self.parent_ca_key_path is None), "parent_ca_key_path",
                      self.parent_ca_key_path, "give both parent_ca_cert_path and parent_ca_key_path, or neither")
        for name in ("parent_ca_cert_path", "parent_ca_key_path"):
            value = getattr(self, name)
            if value is not None:
                check.require(isinstance(value, str) and bool(_PATH.fullmatch(value)) and ".." not in value.split("/"),
                              name, value, "use a file path of letters, digits, '_', '.', '-', '/'")
        check.require(isinstance(self.recovery_pgp_key_paths, tuple), "recovery_pgp_key_paths",
                      self.recovery_pgp_key_paths, "pass a tuple of paths")
        for path in self.recovery_pgp_key_paths:
            check.require(_relative_path(path), "recovery_pgp_key_paths", path,
                          "use a path relative to the project root, e.g. 'stacks/pgp/alice.asc'")
        check.require(len(set(self.recovery_pgp_key_paths)) == len(self.recovery_pgp_key_paths),
                      "recovery_pgp_key_paths", self.recovery_pgp_key_paths, "list each keyholder once")
        if self.recovery_threshold is not None:
            check.require(isinstance(self.recovery_threshold, int) and not isinstance(self.recovery_threshold, bool)
                          and 1 <= self.recovery_threshold <= self.recovery_shares, "recovery_threshold",
                          self.recovery_threshold, f"use 1 to {self.recovery_shares} (the number of keyholders)")
