"""Phase ``cluster``: once the nodes are up, the ACL systems and Vault are brought to their
working state through the products' HTTP APIs (the internal load balancers, or a port forward).

- Consul: ``PUT /v1/acl/bootstrap`` with the management token phase ``secrets`` stored, the
  policies the agents, DNS and Nomad need, and each token registered with the secret id the
  nodes already read from SSM.
- Nomad: ``POST /v1/acl/bootstrap`` with a management token kept in SSM first, the ``operator``
  and ``ci-deployer`` policies, CI's login (JWT auth method and binding rules) and the scheduler
  configuration. No node holds a Nomad token: a client drains itself with its node secret.
- Vault: ``sys/init`` with auto-unseal, recovery keys encrypted to the keyholders' PGP keys
  (refused outside development when none are listed), the first apply of ``<env>-vault`` with
  the initial root token (and Consul's management token, for its Consul half), then the root
  token revoked and checked dead. The root token is kept in SSM (``vault-initial-root-token``,
  read by no node) from init until that apply succeeded, so a failed apply is fixed and run again
  with ``make bootstrap PHASE=cluster``, never leaving ``generate-root`` as the only way back.

The APIs are reached at the environment's addresses or through the operator's tunnel
(:mod:`hashistack.bootstrap.tunnel`); the first apply gets the same addresses as Terraform
variables (``TF_VAR_vault_address``, ``TF_VAR_consul_address``), which the providers' addresses
read, so no new synth is needed for a tunnel.

Each step looks first and reports what it found: a bootstrapped ACL system, an existing policy or
token, an initialized Vault are left alone. Request and response bodies follow the products'
HTTP API documentation (Consul ``/v1/acl/*``, Nomad ``/v1/acl/*``, Vault ``/v1/sys/init``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests

from ..cluster.ports import AGENTS
from ..contracts import PROVIDER_ADDRESS_VARIABLES, consul_node_prefix
from ..environment import Environment
from ..errors import HashistackError
from .catalogue import Item, Kind, catalogue
from .nomad_ci import ci_bindings, ci_role
from .pgp import public_key_base64
from .report import Report
from .store import ParameterStore

__all__ = ["CONSUL_POLICIES", "CONSUL_TOKEN_POLICY", "Endpoints", "NOMAD_POLICIES", "run_cluster"]

# -- what the ACL systems hold --------------------------------------------------------------------

def _agent_rules(role: str) -> str:
    return (f'node_prefix "{consul_node_prefix(role)}" {{\n  policy = "write"\n}}\n'
            'service_prefix "" {\n  policy = "read"\n}\n')


CONSUL_POLICIES: dict[str, str] = {
    # An agent registers its node and reads services (Consul docs: "Agent tokens"). A role's
    # agents are named <role>-<instance id> (contracts.consul_node_prefix), so its token writes
    # only that role's nodes: a client's token cannot rewrite a server's catalogue entry.
    **{f"agent-{role.value}": _agent_rules(role.value) for role in AGENTS},
    # The agents' default token: what DNS answers need (Consul docs: "DNS token").
    "dns": 'node_prefix "" {\n  policy = "read"\n}\nservice_prefix "" {\n  policy = "read"\n}\n'
           'query_prefix "" {\n  policy = "read"\n}\n',
    # Nomad docs, "Consul ACL" integration: servers register Nomad and mint workload tokens...
    "nomad-server": 'agent_prefix "" {\n  policy = "read"\n}\nnode_prefix "" {\n  policy = "read"\n}\n'
                    'service_prefix "" {\n  policy = "write"\n}\nacl = "write"\n',
    # ...clients register the tasks' services.
    "nomad-client": 'agent_prefix "" {\n  policy = "read"\n}\nnode_prefix "" {\n  policy = "read"\n}\n'
                    'service_prefix "" {\n  policy = "write"\n}\n',
}

CONSUL_TOKEN_POLICY: dict[str, str] = {
    "consul_agent_token_nomad_server": "agent-nomad-server",
    "consul_agent_token_nomad_client": "agent-nomad-client",
    "consul_agent_token_consul_server": "agent-consul-server",
    "consul_agent_token_vault_server": "agent-vault-server",
    "consul_dns_token": "dns",
    "nomad_server_consul_token": "nomad-server",
    "nomad_client_consul_token": "nomad-client",
}
"""Consul token field -> its policy. ``consul_management_token`` is the bootstrap token itself."""

_READ_THE_CLUSTER = ('agent {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\noperator {\n  policy = "read"\n}\n'
                     'plugin {\n  policy = "read"\n}\n')
"""Nomad rules reading the agent, the nodes, the operator settings and the plugins: the operators'
and the read-only policy share them."""

NOMAD_POLICIES: dict[str, tuple[str, str]] = {
    "operator": ("Platform operators: run and inspect jobs in every namespace, read the cluster",
                 'namespace "*" {\n  policy = "write"\n}\n' + _READ_THE_CLUSTER),
    # On-call and dashboards: what runs and how, never a change, a shell, a file or a log line
    # of an allocation (Nomad's "read" shorthand holds no read-logs, read-fs or alloc-exec:
    # acl/policy.go expandNamespacePolicy, v1.10.2).
    "read-only": ("Read jobs, allocations' status, nodes and the cluster; change nothing",
                  'namespace "*" {\n  policy = "read"\n}\n' + _READ_THE_CLUSTER),
    # What `deploy <env>` needs (terraform-provider-nomad's nomad_job: register, read, plan) and
    # nothing else: no alloc-exec, read-fs or read-logs, no node, agent or operator rule. CI gets
    # it through the role of the same name, by logging in with its pipeline token (nomad_ci.py).
    "ci-deployer": ("CI: submit and read jobs, nothing else",
                    'namespace "*" {\n  capabilities = ["list-jobs", "read-job", "submit-job"]\n}\n'),
}


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where phase ``cluster`` reaches each API. Defaults to the environment's addresses; a port
    forward to ``https://127.0.0.1:<port>`` works too, since every agent certificate names
    ``localhost`` and ``127.0.0.1``."""

    consul: str
    nomad: str
    vault: str

    @staticmethod
    def of(env: Environment, *, consul: str | None = None, nomad: str | None = None,
           vault: str | None = None) -> "Endpoints":
        return Endpoints(consul=(consul or env.consul.address).rstrip("/"),
                         nomad=(nomad or env.nomad.address).rstrip("/"),
                         vault=(vault or env.vault.address).rstrip("/"))


class Api:
    """One product's HTTP API: ``call`` returns (status, parsed body or text)."""

    def __init__(self, base: str, *, ca_file: str | None, token_header: str) -> None:
        self.base = base
        self.verify: bool | str = ca_file if base.startswith("https://") and ca_file else True
        self.token_header = token_header
        self.session = requests.Session()

    def call(self, method: str, path: str, *, token: str | None = None, body: object = None
             ) -> tuple[int, object]:
        headers = {self.token_header: token} if token else {}
        try:
            r = self.session.request(method, f"{self.base}{path}", headers=headers,
                                     data=None if body is None else json.dumps(body), verify=self.verify, timeout=30)
        except requests.ConnectionError as e:
            raise _Unreachable(f"{self.base} is not reachable ({type(e).__name__})") from None
        try:
            parsed: object = r.json() if r.content else None
        except ValueError:
            parsed = r.text
        return r.status_code, parsed


class _Unreachable(Exception):
    pass


def _holds(found: object, declared: object) -> bool:
    """``found`` (what an API returned) says everything ``declared`` does; fields the API adds
    (indexes, defaults) do not count."""
    if isinstance(declared, dict):
        return isinstance(found, dict) and all(_holds(found.get(k), v) for k, v in declared.items())
    return found == declared


def _text(body: object) -> str:
    if isinstance(body, dict):
        return "; ".join(str(e) for e in body.get("errors", [])) or json.dumps(body)[:200]
    return str(body or "")[:200]


@contextmanager
def _ca_file(ca_pem: str | None) -> Iterator[str | None]:
    """The cluster CA (a public certificate) in a temporary file for TLS verification."""
    if not ca_pem:
        yield None
        return
    with tempfile.NamedTemporaryFile("w", suffix=".pem", prefix="hashistack-ca-") as f:
        f.write(ca_pem)
        f.flush()
        yield f.name


# -- the run ------------------------------------------------------------------------------------


class _Cluster:
    def __init__(self, env: Environment, store: ParameterStore, report: Report, endpoints: Endpoints,
                 ca_file: str | None, root: Path) -> None:
        self.env, self.store, self.report, self.endpoints, self.ca_file, self.root = (
            env, store, report, endpoints, ca_file, root)
        self.items = {i.name: i for i in catalogue(env)}
        self.values = {name: found.value for name, found in self._read().items()}

    def _read(self) -> dict:
        by_parameter = {i.parameter: i.name for i in self.items.values()}
        return {by_parameter[p]: v for p, v in self.store.read(list(by_parameter)).items()}

    def need(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise HashistackError(f"{self.items[name].parameter}: missing; run phase secrets first "
                                  f"(make bootstrap ENV={self.env.name} PHASE=secrets)")
        return value

    def put(self, name: str, value: str, detail: str = "") -> None:
        item = self.items[name]
        if name in self.values:
            self.store.overwrite(item.parameter, value)
            self.report.note(item.parameter, "changed", detail)
        else:
            self.store.create(item.parameter, value, item.holds or item.kind.value)
            self.report.note(item.parameter, "created", detail)
        self.values[name] = value

    # -- Consul -----------------------------------------------------------------------------


    def _acl_bootstrap(self, api, product: str, method: str, management: str, item: str,
                       already_done: Callable[[int, str], bool]) -> bool:
        """``<method> /v1/acl/bootstrap`` with the management token from SSM (Consul and Nomad take
        it as ``BootstrapSecret``); an ACL system already bootstrapped with that same token is left
        alone. False when the step cannot go on (another token, or the API refused)."""
        what = f"{product}: ACL bootstrap"
        status, body = api.call(method, "/v1/acl/bootstrap", body={"BootstrapSecret": management})
        if status == 200:
            self.report.note(what, "created", "with the management token from SSM")
            return True
        if not already_done(status, _text(body)):
            self.report.note(what, "skipped", f"HTTP {status}: {_text(body)}")
            return False
        status, _ = api.call("GET", "/v1/acl/token/self", token=management)
        if status != 200:
            self.report.note(what, "refused", "already bootstrapped with another token; put that management token "
                             f"in {self.items[item].parameter} and run again")
            return False
        self.report.note(what, "unchanged", "already bootstrapped with the token from SSM")
        return True
    def consul(self) -> None:
        api = Api(self.endpoints.consul, ca_file=self.ca_file, token_header="X-Consul-Token")
        management = self.need("consul_management_token")
        if not self._acl_bootstrap(api, "consul", "PUT", management, "consul_management_token",
                                   lambda status, body: status == 403 and "no longer allowed" in body):
            return
        tokens = [i for i in self.items.values() if i.kind is Kind.CONSUL_TOKEN and i.name in CONSUL_TOKEN_POLICY]
        for policy in sorted({CONSUL_TOKEN_POLICY[i.name] for i in tokens}):
            self._consul_policy(api, management, policy)
        for item in tokens:
            self._consul_token(api, management, item)

    def _consul_policy(self, api: Api, management: str, name: str) -> None:
        rules = CONSUL_POLICIES[name]
        label = f"consul: policy {name}"
        status, found = api.call("GET", f"/v1/acl/policy/name/{name}", token=management)
        body = {"Name": name, "Description": f"hashistack {self.env.name}: {name}", "Rules": rules}
        if status == 200 and isinstance(found, dict):
            if found.get("Rules") == rules:
                self.report.note(label, "unchanged")
                return
            status, answer = api.call("PUT", f"/v1/acl/policy/{found['ID']}", token=management, body=body)
            self.report.note(label, "changed" if status == 200 else "refused",
                             "rules updated" if status == 200 else f"HTTP {status}: {_text(answer)}")
            return
        if status not in (403, 404):
            self.report.note(label, "skipped", f"HTTP {status}: {_text(found)}")
            return
        status, answer = api.call("PUT", "/v1/acl/policy", token=management, body=body)
        self.report.note(label, "created" if status == 200 else "refused",
                         "" if status == 200 else f"HTTP {status}: {_text(answer)}")

    def _consul_token(self, api: Api, management: str, item: Item) -> None:
        secret = self.need(item.name)
        policy = CONSUL_TOKEN_POLICY[item.name]
        label = f"consul: token {item.name}"
        body = {"Description": f"hashistack {self.env.name}: {item.name}", "Policies": [{"Name": policy}],
                "Local": False}
        status, found = api.call("GET", "/v1/acl/token/self", token=secret)
        if status == 200 and isinstance(found, dict):
            if [p.get("Name") for p in found.get("Policies") or []] == [policy]:
                self.report.note(label, "unchanged")
                return
            status, answer = api.call("PUT", f"/v1/acl/token/{found['AccessorID']}", token=management,
                                      body={**body, "SecretID": secret})
            self.report.note(label, "changed" if status == 200 else "refused",
                             f"policies set to [{policy}]" if status == 200 else f"HTTP {status}: {_text(answer)}")
            return
        status, answer = api.call("PUT", "/v1/acl/token", token=management, body={**body, "SecretID": secret})
        self.report.note(label, "created" if status == 200 else "refused",
                         f"policy {policy}" if status == 200 else f"HTTP {status}: {_text(answer)}")

    # -- Nomad ------------------------------------------------------------------------------

    def nomad(self) -> None:
        api = Api(self.endpoints.nomad, ca_file=self.ca_file, token_header="X-Nomad-Token")
        if not self.values.get("nomad_management_token"):
            # Stored before it is used, so a failure after the bootstrap never loses it.
            self.put("nomad_management_token", str(uuid.uuid4()), "before the ACL bootstrap")
        management = self.values["nomad_management_token"]
        if not self._acl_bootstrap(api, "nomad", "POST", management, "nomad_management_token",
                                   lambda status, body: status in (400, 500) and "already done" in body):
            return
        for policy in NOMAD_POLICIES:
            self._nomad_policy(api, management, policy)
        bindings = ci_bindings(self.env)
        if bindings:
            self._nomad_upsert(api, management, "nomad: role ci-deployer", ci_role(), find="/v1/acl/role/name/{name}",
                               create="/v1/acl/role", update="/v1/acl/role/{id}")
        for binding in bindings:
            self._nomad_upsert(api, management, f"nomad: auth method {binding.name}", binding.method,
                               find="/v1/acl/auth-method/{name}", create="/v1/acl/auth-method",
                               update="/v1/acl/auth-method/{name}")
            self._nomad_binding_rules(api, management, binding.name, binding.rules)
        self._nomad_scheduler(api, management)

    def _nomad_upsert(self, api: Api, management: str, label: str, body: dict, *, find: str, create: str,
                      update: str) -> None:
        """Create ``body`` (an ACL policy, role or auth method, found by name) or put it back when
        it differs from what Nomad holds."""
        status, found = api.call("GET", find.format(name=body["Name"]), token=management)
        if status not in (200, 404):
            self.report.note(label, "skipped", f"HTTP {status}: {_text(found)}")
            return
        if status == 200 and _holds(found, body):
            self.report.note(label, "unchanged")
            return
        if status == 200 and isinstance(found, dict):
            path, outcome, body = update.format(name=body["Name"], id=found.get("ID")), "changed", {
                **body, **({"ID": found["ID"]} if "ID" in found else {})}
        else:
            path, outcome = create.format(name=body["Name"]), "created"
        status, answer = api.call("POST", path, token=management, body=body)
        self.report.note(label, outcome if status == 200 else "refused", "" if status == 200 else
                         f"HTTP {status}: {_text(answer)}")

    def _nomad_binding_rules(self, api: Api, management: str, method: str, rules: tuple[dict, ...]) -> None:
        """The method's binding rules exactly as declared: missing ones created, others deleted."""
        label = f"nomad: binding rules of {method}"
        status, found = api.call("GET", "/v1/acl/binding-rules", token=management)
        if status != 200 or not isinstance(found, list):
            self.report.note(label, "skipped", f"HTTP {status}: {_text(found)}")
            return
        keys = ("AuthMethod", "Selector", "BindType", "BindName", "Description")
        existing = [r for r in found if r.get("AuthMethod") == method]
        wanted = [tuple(r[k] for k in keys) for r in rules]
        have = {tuple(r.get(k) for k in keys): r for r in existing}
        if sorted(have) == sorted(wanted):
            self.report.note(label, "unchanged")
            return
        for key, rule in have.items():
            if key not in wanted:
                api.call("DELETE", f"/v1/acl/binding-rule/{rule['ID']}", token=management)
        refused = []
        for rule in rules:
            if tuple(rule[k] for k in keys) not in have:
                status, answer = api.call("POST", "/v1/acl/binding-rule", token=management, body=rule)
                if status != 200:
                    refused.append(f"HTTP {status}: {_text(answer)}")
        self.report.note(label, "refused" if refused else "changed", "; ".join(refused))

    def _nomad_scheduler(self, api: Api, management: str) -> None:
        """Memory oversubscription as the environment declares it, nothing else of the scheduler
        configuration touched. Operators apply it here, with the management token: no identity
        that deploys jobs needs ``operator:write``."""
        label = "nomad: scheduler configuration"
        status, found = api.call("GET", "/v1/operator/scheduler/configuration", token=management)
        config = found.get("SchedulerConfig") if status == 200 and isinstance(found, dict) else None
        if not isinstance(config, dict):
            self.report.note(label, "skipped", f"HTTP {status}: {_text(found)}")
            return
        wanted = self.env.nomad.memory_oversubscription
        if bool(config.get("MemoryOversubscriptionEnabled")) == wanted:
            self.report.note(label, "unchanged")
            return
        body = {k: v for k, v in config.items() if k not in ("CreateIndex", "ModifyIndex")}
        body["MemoryOversubscriptionEnabled"] = wanted
        status, answer = api.call("PUT", "/v1/operator/scheduler/configuration", token=management, body=body)
        self.report.note(label, "changed" if status == 200 else "refused",
                         f"memory oversubscription {'on' if wanted else 'off'}" if status == 200 else
                         f"HTTP {status}: {_text(answer)}")

    def _nomad_policy(self, api: Api, management: str, name: str) -> None:
        description, rules = NOMAD_POLICIES[name]
        path = "/v1/acl/policy/{name}"  # Nomad creates and updates a policy at its name
        self._nomad_upsert(api, management, f"nomad: policy {name}",
                           {"Name": name, "Description": description, "Rules": rules}, find=path, create=path,
                           update=path)

    # -- Vault ------------------------------------------------------------------------------

    def vault(self, apply_command: str | None, operator: str | None) -> None:
        if operator and (not self.env.tier.policy.userpass_login
                         or not os.environ.get("HASHISTACK_VAULT_OPERATOR_PASSWORD")):
            # checked before anything is initialized, so it can never stop a run between the
            # first apply and the root token's revocation
            raise HashistackError(f"--vault-operator {operator}: development environments only, with the password in "
                                  "HASHISTACK_VAULT_OPERATOR_PASSWORD")
        api = Api(self.endpoints.vault, ca_file=self.ca_file, token_header="X-Vault-Token")
        status, init = api.call("GET", "/v1/sys/init")
        if status != 200 or not isinstance(init, dict):
            self.report.note("vault: init", "skipped", f"HTTP {status}: {_text(init)}")
            return
        logins = self._login_secrets()
        if init.get("initialized"):
            kept = self.values.get("vault_initial_root_token")
            if not kept:
                self.report.note("vault: init", "unchanged",
                                 f"already initialized; operators apply {self.env.name}-vault from now on")
                if any(logins.values()):  # an operator sets or rotates a login's client secret
                    token = os.environ.get("VAULT_TOKEN")
                    if not token:
                        self.report.note("vault: logins", "refused", "set VAULT_TOKEN to an operator's token to "
                                         "write the logins' configuration")
                        return
                    self._write_logins(api, token, logins)
                return
            self._require_login_secrets(logins)
            self._await_active(api)
            status, _ = api.call("GET", "/v1/auth/token/lookup-self", token=kept)
            if status == 403:  # revoked already (a run stopped before it deleted the parameter)
                self._forget_root("the root token it held is revoked already")
                return
            self.report.note("vault: init", "unchanged", f"initialized; the first apply of {self.env.name}-vault has "
                             "not succeeded yet: running it again with the kept root token")
            self._finish(api, apply_command, operator, kept, logins)
            return
        _, seal = api.call("GET", "/v1/sys/seal-status")
        if not (isinstance(seal, dict) and seal.get("recovery_seal")):
            raise HashistackError(f"{self.endpoints.vault}: Vault's seal is {seal.get('type') if isinstance(seal, dict) else seal!r}, "
                                  "not an auto-unseal seal; the bootstrap initializes auto-unsealed Vaults only "
                                  "(seal \"awskms\" in the rendered config)")
        settings = self.env.bootstrap
        where = f'environment "{self.env.name}": bootstrap.recovery_pgp_key_paths'
        if not settings.recovery_pgp_key_paths and self.env.tier.policy.recovery_keyholders_required:
            raise HashistackError(f"{where} = (): a {self.env.tier.value} environment encrypts each recovery key to "
                                  "a keyholder's PGP key; list their exported public keys, e.g. "
                                  "('stacks/pgp/alice.asc', 'stacks/pgp/bob.asc', 'stacks/pgp/carol.asc')")
        pgp = [public_key_base64(self.root / p, where=where) for p in settings.recovery_pgp_key_paths]
        self._require_login_secrets(logins)
        request: dict[str, object] = {"recovery_shares": settings.recovery_shares,
                                      "recovery_threshold": settings.threshold}
        if pgp:
            request["recovery_pgp_keys"] = pgp
        status, answer = api.call("PUT", "/v1/sys/init", body=request)
        if status != 200 or not isinstance(answer, dict) or not answer.get("root_token"):
            self.report.note("vault: init", "refused", f"HTTP {status}: {_text(answer)}")
            return
        root = answer["root_token"]
        keys = answer.get("recovery_keys_base64") or []
        self.report.note("vault: init", "created", f"{len(keys)} recovery keys, threshold {settings.threshold}"
                         + (", each encrypted to its keyholder's PGP key" if pgp else " (development: kept in SSM)"))
        # the root token first: should keeping it fail, it is revoked at once rather than lost alive
        try:
            self.put("vault_initial_root_token", root, f"kept until the first apply of {self.env.name}-vault succeeded")
        except Exception:
            self._await_active(api)
            self._revoke_root(api, root)
            raise
        self.put("vault_recovery_keys", json.dumps({"pgp_encrypted": bool(pgp), "threshold": settings.threshold,
                                                    "keys_base64": keys}, sort_keys=True))
        self._await_active(api)
        self._finish(api, apply_command, operator, root, logins)

    def _finish(self, api: Api, apply_command: str | None, operator: str | None, root: str,
                logins: dict[str, str | None]) -> None:
        """The first apply with the root token and the logins' configuration; only once both
        succeeded, the development operator, the root token revoked (checked dead) and its
        parameter deleted."""
        if not self._first_apply(apply_command, root) or not self._write_logins(api, root, logins):
            return
        if operator:
            self._dev_operator(api, root, operator)
        if self._revoke_root(api, root):
            self._forget_root("the root token is revoked")
        if operator:
            self._check_operator(api, operator)

    def _oidc_logins(self) -> list:
        return [m for m in self.env.vault.login_methods if m.kind == "oidc"]

    def _login_secrets(self) -> dict[str, str | None]:
        """Each OIDC login's client secret, from the variable its method names (never from code,
        never through Terraform: the config of a JWT/OIDC mount would keep it in state)."""
        return {m.path: os.environ.get(m.secret_variable) or None for m in self._oidc_logins()}

    def _require_login_secrets(self, logins: dict[str, str | None]) -> None:
        """Checked before init: once the root token is revoked, operators log in through these."""
        missing = [m.secret_variable for m in self._oidc_logins() if not logins[m.path]]
        if missing:
            raise HashistackError(f'environment "{self.env.name}": {", ".join(missing)} unset: the OIDC login\'s '
                                  "client secret (from the identity provider) is written with its configuration "
                                  "right after the first apply, before the root token is revoked; set it and run again")

    def _write_logins(self, api: Api, token: str, logins: dict[str, str | None]) -> bool:
        """``auth/<path>/config`` of each OIDC login whose secret is given, written whole."""
        ok = True
        for method in self._oidc_logins():
            secret = logins.get(method.path)
            if not secret:
                continue
            status, answer = api.call("POST", f"/v1/auth/{method.path}/config", token=token,
                                      body=method.oidc_config(secret))
            label = f"vault: {method.path} login configuration"
            if status in (200, 204):
                self.report.note(label, "changed", f"{method.discovery_url}, client {method.client_id}, "
                                 f"secret from {method.secret_variable}")
            else:
                ok = False
                self.report.note(label, "refused", f"HTTP {status}: {_text(answer)}")
        return ok

    def _forget_root(self, why: str) -> None:
        """Delete the kept root token's parameter once the token is dead."""
        parameter = self.items["vault_initial_root_token"].parameter
        self.store.delete(parameter)
        self.values.pop("vault_initial_root_token", None)
        self.report.note(parameter, "changed", f"deleted: {why}")

    def _await_active(self, api: Api, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            # a standby forwards requests to the active node: it will do (the tunnel keeps one server)
            status, _ = api.call("GET", "/v1/sys/health?standbyok=true")
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise HashistackError(f"{self.endpoints.vault}: not active {timeout_s:.0f}s after init (health "
                                      f"HTTP {status}); check the seal's KMS access")
            time.sleep(0.5)

    def _first_apply(self, command: str | None, root: str) -> bool:
        stack = f"{self.env.name}-vault"
        argv = shlex.split((command or "cdktf deploy {stack} --auto-approve").replace("{stack}", stack))
        # The providers' addresses are Terraform variables (hashistack.stack): the apply reaches
        # Vault and Consul where this run reaches them (a tunnel's loopback ports, or the
        # environment's addresses), without a new synth.
        env = {**os.environ, "VAULT_ADDR": self.endpoints.vault, "VAULT_TOKEN": root,
               f"TF_VAR_{PROVIDER_ADDRESS_VARIABLES['vault']}": self.endpoints.vault,
               f"TF_VAR_{PROVIDER_ADDRESS_VARIABLES['consul']}": urlsplit(self.endpoints.consul).netloc}
        # <env>-vault also writes Consul's auth method and intentions: with the management token
        # phase consul bootstrapped, the same way it reaches Consul.
        consul = self.values.get("consul_management_token")
        if consul:
            env["CONSUL_HTTP_TOKEN"] = consul
        if self.ca_file:
            env["VAULT_CACERT"] = env["CONSUL_CACERT"] = self.ca_file
        self.report.progress(f"vault: first apply of {stack} with the initial root token: {' '.join(argv)}")
        retry = (f"the root token stays in {self.items['vault_initial_root_token'].parameter} (operators only) until "
                 f"the apply succeeds: fix the cause and run make bootstrap ENV={self.env.name} PHASE=cluster again")
        try:
            # The apply's output goes to stderr with the root token masked, should anything echo it.
            result = subprocess.run(argv, env=env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
        except OSError as e:
            self.report.note(f"vault: first apply of {stack}", "refused", f"cannot run {argv[0]}: {e.strerror}; {retry}")
            return False
        output = result.stdout.replace(root, "<initial root token>")
        self.report.stream.write(output.replace(consul, "<consul management token>") if consul else output)
        if result.returncode != 0:
            self.report.note(f"vault: first apply of {stack}", "refused", f"exit {result.returncode}; {retry}")
            return False
        self.report.note(f"vault: first apply of {stack}", "created")
        return True

    def _dev_operator(self, api: Api, root: str, name: str) -> None:
        password = os.environ["HASHISTACK_VAULT_OPERATOR_PASSWORD"]  # checked before init (vault())
        status, answer = api.call("POST", f"/v1/auth/userpass/users/{name}", token=root,
                                  body={"password": password, "token_policies": "platform-operator"})
        self.report.note(f"vault: userpass operator {name}", "created" if status in (200, 204) else "refused",
                         "" if status in (200, 204) else f"HTTP {status}: {_text(answer)}")

    def _revoke_root(self, api: Api, root: str) -> bool:
        status, answer = api.call("POST", "/v1/auth/token/revoke-self", token=root)
        check, _ = api.call("GET", "/v1/auth/token/lookup-self", token=root)
        if status in (200, 204) and check == 403:
            self.report.note("vault: initial root token", "changed", "revoked; a lookup with it is denied")
            return True
        self.report.note("vault: initial root token", "refused",
                         f"revoke answered HTTP {status} and a lookup HTTP {check}: revoke it by hand")
        return False

    def _check_operator(self, api: Api, name: str) -> None:
        status, answer = api.call("POST", f"/v1/auth/userpass/login/{name}",
                                  body={"password": os.environ["HASHISTACK_VAULT_OPERATOR_PASSWORD"]})
        policies = (answer or {}).get("auth", {}).get("policies", []) if isinstance(answer, dict) else []
        ok = status == 200 and "platform-operator" in policies
        self.report.note(f"vault: operator login as {name}", "unchanged" if ok else "refused",
                         "logs in with platform-operator" if ok else f"HTTP {status}: {_text(answer)}")


def run_cluster(env: Environment, store: ParameterStore, report: Report, *, endpoints: Endpoints,
                only: tuple[str, ...] = (), vault_apply: str | None = None, vault_operator: str | None = None,
                root: Path | None = None) -> Report:
    """Consul, then Nomad, then Vault (or only those named); see the module docstring."""
    ca_item = next(i for i in catalogue(env) if i.name == "ca_cert")
    ca = store.read([ca_item.parameter]).get(ca_item.parameter)
    with _ca_file(ca.value if ca else None) as ca_file:
        run = _Cluster(env, store, report, endpoints, ca_file, root or Path.cwd())
        for step in ("consul", "nomad", "vault"):
            if only and step not in only:
                continue
            report.progress(f"{step}: {getattr(endpoints, step)}")
            try:
                if step == "vault":
                    run.vault(vault_apply, vault_operator)
                else:
                    getattr(run, step)()
            except _Unreachable as e:
                report.note(f"{step}", "skipped", str(e))
    return report
