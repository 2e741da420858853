"""Phase ``secrets``: everything the nodes read at boot, written to SSM before the first
``deploy <env>-infra``.

- gossip keys: 32 random bytes, base64 (what ``consul keygen`` and ``nomad operator gossip
  keyring generate`` print);
- the cluster CA (self-signed, or an intermediate under the operator's CA) and one certificate
  and key per agent (:mod:`.pki`);
- Consul's initial management token and every Consul token the nodes read: random UUIDs, which
  phase ``cluster`` registers in Consul with exactly these secret ids.

Idempotent: a parameter that exists in the expected shape is left alone; one in another shape is
reported (``refused``) and never overwritten; ``rotate`` replaces one item deliberately.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..environment import Environment
from ..errors import HashistackError
from . import pki
from .catalogue import Item, Kind, catalogue
from .report import Report
from .store import ParameterStore, Stored

__all__ = ["ROTATABLE", "run_secrets"]

ROTATABLE = (Kind.GOSSIP_KEY, Kind.AGENT_CERT, Kind.AGENT_KEY, Kind.CONSUL_TOKEN)

PARENT_PASSPHRASE_ENV = "HASHISTACK_PARENT_CA_PASSPHRASE"


def gossip_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def gossip_problem(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return "is not base64"
    return None if len(raw) == 32 else f"decodes to {len(raw)} bytes, not 32"


def token_problem(value: str) -> str | None:
    try:
        return None if str(uuid.UUID(value)) == value else "is not a lowercase UUID"
    except ValueError:
        return "is not a UUID"


def _load_parent(env: Environment, root: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    s = env.bootstrap
    if s.parent_ca_cert_path is None:
        return None
    where = f'environment "{env.name}"'
    paths = {n: (root / getattr(s, n)) for n in ("parent_ca_cert_path", "parent_ca_key_path")}
    for name, path in paths.items():
        if not path.is_file():
            raise HashistackError(f"{where}: bootstrap.{name} = {getattr(s, name)!r}: no such file; give the "
                                  "operator CA's PEM file (relative to the project root or absolute)")
    cert = x509.load_pem_x509_certificate(paths["parent_ca_cert_path"].read_bytes())
    passphrase = os.environ.get(PARENT_PASSPHRASE_ENV)
    try:
        key = pki.load_key(paths["parent_ca_key_path"].read_bytes(), passphrase.encode() if passphrase else None)
    except (TypeError, ValueError) as e:
        raise HashistackError(f"{where}: bootstrap.parent_ca_key_path = {s.parent_ca_key_path!r}: cannot load the "
                              f"key ({type(e).__name__}); an encrypted key needs its passphrase in "
                              f"{PARENT_PASSPHRASE_ENV}") from None
    return cert, key


class _Run:
    def __init__(self, env: Environment, store: ParameterStore, report: Report, rotate: str | None,
                 root: Path) -> None:
        self.env, self.store, self.report, self.root = env, store, report, root
        self.items = {i.name: i for i in catalogue(env) if i.phase == "secrets"}
        self.rotate = rotate
        self.stored: dict[str, Stored] = {}
        self.values: dict[str, str] = {}
        self.bad: set[str] = set()
        self._problems: dict[str, str] = {}

    # -- reading ---------------------------------------------------------------------------

    def current(self, name: str) -> str | None:
        """The stored value if it exists in the right shape; None if absent. A wrong
        type or key marks it bad (reported once, by :meth:`refuse`)."""
        item = self.items[name]
        found = self.stored.get(item.parameter)
        if found is None:
            return None
        problem = found.shape_problem(self.store.kms_key_id)
        if problem:
            self.bad.add(name)
            self._problems[name] = problem
            return None
        return found.value

    def exists(self, name: str) -> bool:
        return self.items[name].parameter in self.stored

    # -- writing ---------------------------------------------------------------------------

    def write(self, name: str, value: str, detail: str = "") -> None:
        item = self.items[name]
        if self.exists(name):
            self.store.overwrite(item.parameter, value)
            self.report.note(item.parameter, "changed", detail or "rotated")
        else:
            self.store.create(item.parameter, value, item.holds or item.kind.value)
            self.report.note(item.parameter, "created", detail)
        self.values[name] = value

    def keep(self, name: str) -> None:
        self.values[name] = self.stored[self.items[name].parameter].value
        self.report.note(self.items[name].parameter, "unchanged")

    def refuse(self, name: str, problem: str) -> None:
        item = self.items[name]
        self.bad.add(name)
        fix = (f"replace it deliberately with --rotate {name}" if item.kind in ROTATABLE
               else "delete it by hand if it is stale, then run the phase again")
        self.report.note(item.parameter, "refused", f"{problem}; {fix}")

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        if self.rotate is not None:
            self._check_rotate()
        self.report.progress(f"environment {self.env.name}: {len(self.items)} parameters, KMS key "
                             f"{self.store.kms_key_id}")
        self.stored = self.store.read([i.parameter for i in self.items.values()])
        ca = self._ca()
        for item in self.items.values():
            if item.kind is Kind.GOSSIP_KEY:
                self._simple(item, gossip_key, gossip_problem)
            elif item.kind is Kind.CONSUL_TOKEN:
                self._simple(item, lambda: str(uuid.uuid4()), token_problem)
        for item in self.items.values():
            if item.kind is Kind.AGENT_CERT:
                self._agent(item, ca)

    def _check_rotate(self) -> None:
        if self.rotate is None:
            return
        item = self.items.get(self.rotate) or next(
            (i for i in self.items.values() if i.parameter == self.rotate), None)
        if item is None:
            raise HashistackError(f"--rotate {self.rotate}: no such item in phase secrets; use one of "
                                  f"{', '.join(n for n, i in self.items.items() if i.kind in ROTATABLE)}")
        if item.kind not in ROTATABLE:
            raise HashistackError(
                f"--rotate {self.rotate}: the cluster CA is not rotated in place (every agent certificate and every "
                "node's trust store depend on it); rotate agent certificates or keys, gossip keys or tokens")
        self.rotate = item.name

    def _simple(self, item: Item, make, check) -> None:
        value = self.current(item.name)
        if item.name == self.rotate:
            self.write(item.name, make())
        elif item.name in self.bad:
            self.refuse(item.name, self._problems[item.name])
        elif value is None:
            self.write(item.name, make())
        elif problem := check(value):
            self.refuse(item.name, problem)
        else:
            self.keep(item.name)

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
        parent = _load_parent(self.env, self.root)
        cert_pem, key_pem = self.current("ca_cert"), self.current("ca_key")
        for name in ("ca_key", "ca_cert"):
            if name in self.bad:
                self.refuse(name, self._problems[name])
        if self.bad & {"ca_cert", "ca_key"}:
            return None
        settings = self.env.bootstrap
        if cert_pem is None and key_pem is None:
            cert, key = pki.make_ca(self.env, ttl_h=settings.ca_ttl_h, parent=parent)
            self.write("ca_key", pki.pem_key(key))
            self.write("ca_cert", pki.pem_cert(cert), "intermediate under the operator's CA" if parent else "")
            return cert, key
        if cert_pem is None:
            self.refuse("ca_key", "exists without ca_cert")
            return None
        if key_pem is None:
            self.refuse("ca_cert", "exists without ca_key, so no certificate can be issued under it")
            return None
        problem = pki.check_ca(cert_pem, key_pem, parent[0] if parent else None)
        if problem:
            self.refuse("ca_cert", problem)
            return None
        self.keep("ca_key")
        self.keep("ca_cert")
        return x509.load_pem_x509_certificate(cert_pem.encode()), pki.load_key(key_pem)

    def _agent(self, cert_item: Item, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None) -> None:
        key_name = cert_item.name[: -len("_cert")] + "_key"
        if key_name not in self.items:
            raise HashistackError(f"bootstrap catalogue: {cert_item.name} has no {key_name} beside it")
        cert_pem, key_pem = self.current(cert_item.name), self.current(key_name)
        if ca is None:
            for name in (key_name, cert_item.name):
                self.report.note(self.items[name].parameter, "skipped", "the cluster CA is not usable")
            return
        ca_cert, ca_key = ca
        ttl = self.env.bootstrap.agent_cert_ttl_h
        agent = cert_item.agent
        if agent is None:
            raise HashistackError(f"bootstrap catalogue: {cert_item.name}.agent = None: an agent certificate names "
                                  "the agent it is for")

        def issue(key) -> str:
            return pki.pem_cert(pki.issue_agent_cert(self.env, agent, public_key=key.public_key(), ca_cert=ca_cert,
                                                     ca_key=ca_key, ttl_h=ttl))

        if self.rotate == key_name:
            new = pki.new_key()
            self.write(key_name, pki.pem_key(new), "new key")
            self.write(cert_item.name, issue(new), f"reissued for the new {key_name}")
            return
        if key_name in self.bad:
            self.refuse(key_name, self._problems[key_name])
            self.report.note(cert_item.parameter, "skipped", f"{key_name} is refused")
            return
        key: ec.EllipticCurvePrivateKey | None = None
        if key_pem is not None:
            try:
                key = pki.load_key(key_pem)
            except (TypeError, ValueError):
                self.refuse(key_name, "is not a PEM private key")
                self.report.note(cert_item.parameter, "skipped", f"{key_name} is refused")
                return
        if key is None and cert_pem is not None:
            self.refuse(cert_item.name, f"exists without {key_name}")
            return
        if key is None:
            key = pki.new_key()
            self.write(key_name, pki.pem_key(key))
        else:
            self.keep(key_name)
        if self.rotate == cert_item.name:
            self.write(cert_item.name, issue(key), "reissued")
        elif cert_item.name in self.bad:
            self.refuse(cert_item.name, self._problems[cert_item.name])
        elif cert_pem is None:
            self.write(cert_item.name, issue(key))
        elif problem := pki.check_agent_cert(self.env, agent, cert_pem, ca_cert=ca_cert, key_pem=key_pem):
            self.refuse(cert_item.name, problem)
        else:
            self.keep(cert_item.name)


def run_secrets(env: Environment, store: ParameterStore, report: Report, *, rotate: str | None = None,
                root: Path | None = None) -> Report:
    """Bring the environment's boot secrets to their wanted state; see the module docstring."""
    _Run(env, store, report, rotate, root or Path.cwd()).run()
    return report
