"""STAND-IN for systemd starting a node's units, shared by the day-0 rehearsal (a node's files as a
model, tests/support/day0.py) and the boot sandbox (a real Debian root, tests/support/sandbox/node.py). It is no
kinder than systemd and the products:

- a unit whose file does not exist fails (``Unit X.service not found``); the services it
  ``Requires=`` start first, and their failure fails it;
- ``ConditionFileNotEmpty=`` unmet: systemd skips the unit, which is then not active;
- ``EnvironmentFile=`` without ``-`` must exist;
- the agent's config directory and every ``*.hcl`` in it must be readable by the unit's ``User=``
  (Consul ``-config-dir``, Nomad ``-config``, Vault ``-config``), and so must every certificate,
  key and CA file the merged config names (the agents load them at start and exit if they
  cannot: tests/support/consul_rules.py ``referenced_files``), and each certificate must match the key
  it is paired with;
- ``Type=notify`` Consul is active only when Consul would send ``READY=1`` at that moment
  (tests/support/consul_rules.py ``not_ready``: auto-encrypt waits for a token the servers know; ready
  follows the first LAN join).

Anything else a unit does is not modelled: a unit that passes these checks counts as active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tests.support import consul_rules
from tests.support.hcl import parse

PRODUCT_UNITS = ("consul", "nomad", "vault")


class NodeView(Protocol):
    def unit_text(self, name: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def content(self, path: str) -> str: ...

    def readable(self, path: str, user: str) -> str | None:
        """None if ``user`` can read ``path``, else why not."""

    def listdir(self, path: str) -> list[str]: ...


@dataclass
class ClusterState:
    """What the cluster knows at this moment of a bring-up."""

    consul_servers_started: bool = True
    known_tokens: dict = field(default_factory=dict)


def unit_keys(text: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def config(view: NodeView, directory: str) -> dict:
    """Every ``*.hcl`` of a config directory, merged as the agents merge them (by name order)."""
    merged: dict = {}
    for name in sorted(view.listdir(directory)):
        if name.endswith(".hcl"):
            consul_rules.merge(merged, parse(view.content(f"{directory}/{name}")))
    return merged


def start(view: NodeView, unit: str, cluster: ClusterState, active: dict[str, bool] | None = None) -> str | None:
    """None when ``unit`` becomes active, else why not. As systemd does, the services it
    ``Requires=``/``BindsTo=`` are started first (those ``active`` does not list as running),
    and their failure is the unit's; ``active`` records every outcome."""
    active = {} if active is None else active
    name = unit if "." in unit else f"{unit}.service"
    text = view.unit_text(name)
    if text is None:
        active[name] = False
        return f"Unit {name} not found"
    keys = unit_keys(text)
    for dep in (d for key in ("Requires", "BindsTo") for v in keys.get(key, []) for d in v.split()):
        if dep.endswith(".service") and not active.get(dep):
            why = start(view, dep, cluster, active)
            if why:
                active[name] = False
                return f"a dependency failed: {dep}: {why}"
    why = _start_one(view, name, keys, cluster)
    active[name] = why is None
    return why


def _start_one(view: NodeView, name: str, keys: dict[str, list[str]], cluster: ClusterState) -> str | None:
    product = name.removesuffix(".service")
    if product not in PRODUCT_UNITS:
        return None
    user = (keys.get("User") or ["root"])[0]
    for path in keys.get("ConditionFileNotEmpty", []):
        if not view.exists(path) or not view.content(path).strip():
            return f"ConditionFileNotEmpty={path} fails: systemd skips the unit"
    for value in keys.get("EnvironmentFile", []):
        if not value.startswith("-") and not view.exists(value):
            return f"EnvironmentFile={value} is missing"
    directory = f"/etc/{product}.d"
    why = view.readable(directory, user)
    if why:
        return why
    for entry in sorted(view.listdir(directory)):
        if entry.endswith(".hcl"):
            why = view.readable(f"{directory}/{entry}", user)
            if why:
                return f"{user} reads the config directory {directory}: {why}"
    cfg = config(view, directory)
    for path in consul_rules.referenced_files(product, cfg):
        why = view.readable(path, user)
        if why:
            return f"the config names {path}: {why}"
    why = _key_pairs(view, cfg)
    if why:
        return why
    if product == "consul":
        return consul_rules.not_ready(cfg, servers=cluster.consul_servers_started,
                                      known_tokens=cluster.known_tokens)
    return None


def _key_pairs(view: NodeView, cfg: object) -> str | None:
    """Every certificate and key a config pairs (``cert_file``/``key_file``,
    ``tls_cert_file``/``tls_key_file``) must belong together: the agents load the pair with Go's
    ``tls.LoadX509KeyPair`` at start and exit on "private key does not match public key"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if isinstance(cfg, list):
        return next((w for w in (_key_pairs(view, v) for v in cfg) if w), None)
    if not isinstance(cfg, dict):
        return None
    for cert_key, key_key in (("cert_file", "key_file"), ("tls_cert_file", "tls_key_file")):
        cert_path, key_path = cfg.get(cert_key), cfg.get(key_key)
        if isinstance(cert_path, str) and isinstance(key_path, str) and view.exists(cert_path) and view.exists(key_path):
            try:
                cert = x509.load_pem_x509_certificate(view.content(cert_path).encode())
                key = serialization.load_pem_private_key(view.content(key_path).encode(), password=None)
            except ValueError as e:
                return f"{cert_path} / {key_path}: not a PEM certificate and key ({e})"
            raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if cert.public_key().public_bytes(*raw) != key.public_key().public_bytes(*raw):
                return f"{key_path} does not match {cert_path}: tls: private key does not match public key"
    return next((w for w in (_key_pairs(view, v) for v in cfg.values()) if w), None)
