"""Nomad workload identities in Consul, as a model: the JWT auth method ``nomad-workloads`` that
trusts Nomad's JWKS, its binding rules, and the least-privilege role for tasks.

Nomad signs a workload identity for every Consul service of a job (``service_identity``) and for
every task with a ``consul`` block (``task_identity``), both with the audience ``consul.io`` (the
Nomad servers' ``consul { service_identity { aud = ["consul.io"] } task_identity { ... } }``), and
logs in to this auth method with it to get the Consul token the sidecar or the task uses. So no
Consul token is written into a job, and the identity that submits jobs needs none.

The names, the claim mappings and the two binding rules are those ``nomad setup consul`` creates
(hashicorp/nomad v1.10.5, ``command/setup_consul.go`` with its assets
``command/asset/consul-wi-default-auth-method-config.json`` and
``command/asset/consul-wi-default-policy.hcl``; unchanged on main after v2.0.5):

- the auth method ``nomad-workloads``, type ``jwt``, token locality ``local``, with
  ``JWKSURL = <nomad>/.well-known/jwks.json``, ``JWTSupportedAlgs = ["RS256"]``,
  ``BoundAudiences = ["consul.io"]`` and the claim mappings below (``JWKSCACert`` when Nomad's
  HTTPS certificate is signed by a private CA);
- services: one rule per service of the platform's jobs, selected on the identity's service,
  job ID and namespace (``value.nomad_service == "ledger" and value.nomad_job_id == "ledger" and
  value.nomad_namespace == "default"``), binds that *service identity*, which Consul turns into
  ``service:write`` on that name (and its sidecar) plus read on the catalogue: what the sidecar
  needs to register and to get its certificate. Nomad's default rule (``"nomad_service" in
  value`` binding ``${value.nomad_service}``) lets any job that names a service ``ledger`` take
  ``ledger``'s identity and certificate, which would make the intentions meaningless against
  whoever submits jobs; here a job gets only the identities of its own services;
- tasks: ``"nomad_service" not in value`` binds the role ``nomad-${value.nomad_namespace}-tasks``.

One departure, deliberate: Nomad's default task policy also grants ``key_prefix "" { policy =
"read" }`` (the whole KV store). The platform keeps configuration in files and secrets in Vault,
so the tasks' policy here reads the catalogue (services and nodes, what a template's ``service``
lookup needs) and nothing else.

Consul fetches the JWKS when the auth method is written (``nomad setup consul`` reports "error
checking JWKSURL" otherwise), so the Consul servers must reach Nomad's HTTPS API when
``<env>-vault`` is applied, and trust the CA in ``JWKSCACert``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..contracts import CONSUL_AUDIENCE, CONSUL_AUTH_METHOD
from ..errors import Checker

__all__ = [
    "AUTH_METHOD",
    "BindingRule",
    "CLAIM_MAPPINGS",
    "CONSUL_AUDIENCE",
    "ConsulRole",
    "MeshIdentity",
    "NomadWorkloadsAuth",
    "TASK_POLICY",
    "TASK_POLICY_RULES",
]

AUTH_METHOD = CONSUL_AUTH_METHOD
"""The auth method's name: ``consulAuthMethodName`` in Nomad's ``setup_consul.go``, and the
default of the Nomad agents' ``consul { service_auth_method, task_auth_method }``
(:data:`hashistack.contracts.CONSUL_AUTH_METHOD`)."""

CLAIM_MAPPINGS = {
    "consul_namespace": "consul_namespace",
    "nomad_job_id": "nomad_job_id",
    "nomad_namespace": "nomad_namespace",
    "nomad_service": "nomad_service",
    "nomad_task": "nomad_task",
}
"""Nomad's claim mappings (``consul-wi-default-auth-method-config.json``): each claim becomes a
variable of the binding rules (``value.<name>``). ``consul_namespace`` is only in tokens of jobs
that set a Consul namespace (Consul Enterprise); a mapping whose claim is absent is skipped."""

TASK_POLICY = "nomad-tasks"
"""The Consul policy of the tasks' roles."""

TASK_POLICY_RULES = 'node_prefix "" {\n  policy = "read"\n}\n\nservice_prefix "" {\n  policy = "read"\n}\n'
"""Read the catalogue, nothing else (Nomad's default adds ``key_prefix "" read``; see above)."""

_TASK_SELECTOR = '"nomad_service" not in value'


def go_json(value: object) -> str:
    """JSON as Go's ``encoding/json`` ``Marshal`` writes a map: keys sorted, no spaces, UTF-8 as
    is, and ``<``, ``>``, ``&``, U+2028 and U+2029 escaped (its HTML-safe default)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def task_role_name(namespace: str) -> str:
    """The role the tasks of a Nomad namespace get (``nomad-<namespace>-tasks``)."""
    return f"nomad-{namespace}-tasks"


@dataclass(frozen=True, kw_only=True)
class BindingRule:
    """A binding rule of the auth method: a token whose claims match ``selector`` gets the service
    identity or role ``bind_name`` (with ``${value.<claim>}`` filled in by Consul at login)."""

    description: str
    selector: str
    bind_type: str
    bind_name: str


@dataclass(frozen=True, kw_only=True)
class MeshIdentity:
    """A Consul service of one Nomad job: the only job whose identity may bind it."""

    service: str
    job_id: str
    namespace: str = "default"

    @property
    def selector(self) -> str:
        return (f'value.nomad_service == "{self.service}" and value.nomad_job_id == "{self.job_id}" and '
                f'value.nomad_namespace == "{self.namespace}"')


@dataclass(frozen=True, kw_only=True)
class ConsulRole:
    """A Consul ACL role and the policies it links."""

    name: str
    description: str
    policies: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NomadWorkloadsAuth:
    """The ``nomad-workloads`` JWT auth method trusting one Nomad cluster's workload identities.

    :param nomad_address: the Nomad HTTPS API (its JWKS is ``<address>/.well-known/jwks.json``).
    :param jwks_ca_pem: the PEM of the CA behind Nomad's HTTPS certificate. Defaults to none: the
        Consul servers' system trust store.
    :param namespaces: the Nomad namespaces whose tasks get a role (``nomad-<ns>-tasks``).
        Defaults to ``default``.
    :param services: the Consul services of the platform's jobs, each bound to its own job
        (:class:`MeshIdentity`). Defaults to none: no job gets a service identity.
    """

    nomad_address: str
    jwks_ca_pem: str | None = None
    namespaces: tuple[str, ...] = ("default",)
    services: tuple[MeshIdentity, ...] = ()

    name: str = AUTH_METHOD

    @property
    def jwks_url(self) -> str:
        return f"{self.nomad_address.rstrip('/')}/.well-known/jwks.json"

    def validate(self, *, where: str = "") -> "NomadWorkloadsAuth":
        check = Checker(f"{where + ': ' if where else ''}consul auth method \"{self.name}\"")
        check.require(isinstance(self.nomad_address, str) and self.nomad_address.startswith(("https://", "http://")),
                      "nomad_address", self.nomad_address,
                      "use the Nomad API address, e.g. https://nomad.example.internal:4646")
        if self.jwks_ca_pem is not None:
            check.require("BEGIN CERTIFICATE" in self.jwks_ca_pem and "PRIVATE KEY" not in self.jwks_ca_pem,
                          "jwks_ca_pem", "<pem>", "give the PEM of the CA that signed Nomad's HTTPS certificate "
                          "(a certificate, never a key)")
        check.require(isinstance(self.namespaces, tuple) and bool(self.namespaces), "namespaces", self.namespaces,
                      "list the Nomad namespaces the jobs run in, e.g. ('default',)")
        for namespace in self.namespaces:
            check.require(is_rfc1123_label(namespace), "namespaces", namespace, RFC1123_HINT)
        names = [s.service for s in self.services]
        check.require(len(set(names)) == len(names), "services", names,
                      "give each Consul service one job: two jobs registering one name would share its identity")
        for s in self.services:
            for field_name, value in (("service", s.service), ("job_id", s.job_id), ("namespace", s.namespace)):
                check.require(is_rfc1123_label(value), f"services.{field_name}", value, RFC1123_HINT)
        return self

    def config(self) -> dict[str, object]:
        """The auth method's ``Config`` (Consul's JWT auth method fields)."""
        config: dict[str, object] = {
            "BoundAudiences": [CONSUL_AUDIENCE],
            "ClaimMappings": dict(sorted(CLAIM_MAPPINGS.items())),
            "JWKSURL": self.jwks_url,
            "JWTSupportedAlgs": ["RS256"],
        }
        if self.jwks_ca_pem is not None:
            config["JWKSCACert"] = self.jwks_ca_pem
        return config

    def config_json(self) -> str:
        """:meth:`config` as the provider writes it back to the state, so that a plan after an
        apply shows no change: the provider stores the auth method's config as read from Consul
        through Go's ``json.Marshal`` (hashicorp/terraform-provider-consul v2.22.1,
        ``consul/resource_provider.go``, ``setJson``), and compares that string with this one."""
        return go_json(self.config())

    @property
    def binding_rules(self) -> tuple[BindingRule, ...]:
        """Each service's identity to its own job only; tasks get their namespace's role."""
        return (
            *(BindingRule(description=f"Nomad service {s.service}: its identity, for job {s.job_id} in {s.namespace} only",
                          selector=s.selector, bind_type="service", bind_name=s.service)
              for s in sorted(self.services, key=lambda s: s.service)),
            BindingRule(description="Nomad tasks: the role of their Nomad namespace (read the catalogue)",
                        selector=_TASK_SELECTOR, bind_type="role",
                        bind_name=task_role_name("${value.nomad_namespace}")),
        )

    @property
    def task_roles(self) -> tuple[ConsulRole, ...]:
        """One role per namespace, each linking :data:`TASK_POLICY`."""
        return tuple(ConsulRole(name=task_role_name(ns), policies=(TASK_POLICY,),
                                description=f"Tasks of Nomad namespace {ns}: read the catalogue. Generated by hashistack.")
                     for ns in sorted(set(self.namespaces)))
