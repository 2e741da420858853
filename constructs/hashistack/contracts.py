"""Handshake values: what two layers must agree on, each defined here once and read by both sides.

A seam is a value set in one layer and expected by another: an audience Nomad signs and Vault
checks, a host name a certificate carries and a client dials, a file the boot writes and an agent
reads. Written in two places, such a value drifts while each layer's own tests still pass; so
every one of them lives here (or in the environment model, which this module reads), and
``tests/unit/test_contracts.py`` lists every seam and checks both ends in the synthesized output.

=============================== ============================================ ==============================================
seam                            one side                                     the other side
=============================== ============================================ ==============================================
Vault JWT auth path             ``<env>-vault``: the JWT backend's path      Nomad clients: ``vault.jwt_auth_backend_path``
Vault audience                  Nomad servers: ``default_identity.aud``      Vault JWT roles: ``bound_audiences``
Consul audience                 Nomad servers: ``service/task_identity.aud`` Consul auth method: ``BoundAudiences``
Consul auth method              Nomad clients: ``service/task_auth_method``  Consul: the auth method's name
workload-identity claims        Nomad: the claims it signs                   Vault roles' ``bound_claims``, Consul's
                                                                             ``ClaimMappings``
API names                       private DNS records, agent certificates      agents' and providers' addresses, Vault's
                                                                             ``leader_tls_servername``
Consul on the node              Consul agents' HTTPS and gRPC-TLS listeners  Nomad agents' ``consul`` block (TLS, CA)
CA files                        the boot's secret files                      every agent's ``ca_file``
boot secrets                    ``bootstrap`` phase ``secrets`` (SSM)        the boot's fetch, the instance roles
certifiable names               the PKI intermediate's permitted domains     the names a service's certificate may carry
Consul node names               every Consul agent's ``node_name``           each role's agent token: ``node_prefix``
=============================== ============================================ ==============================================

Plain Python: no provider bindings are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import HashistackError

if TYPE_CHECKING:  # the environment model imports this module's constants
    from .environment import Environment

__all__ = [
    "API_PRODUCTS", "CONFIG_DIRS", "JOIN_TAG_KEY", "PROVIDER_ADDRESS_VARIABLES", "SERVER_API_PORTS", "CONSUL_AUDIENCE", "CONSUL_AUTH_METHOD", "CONSUL_GRPC_TLS_PORT", "CONSUL_HTTPS_PORT",
    "CONSUL_LOCAL_HTTPS", "PARAMETER_PREFIX", "VAULT_AUDIENCE", "WORKLOAD_CLAIMS", "api_host",
    "ca_file", "certifiable_domains", "join_tag", "jwt_auth_path", "parameter_prefix", "permits", "service_tls_names", "tls_files",
]

# -- workload identities ------------------------------------------------------------------------

VAULT_AUDIENCE = "vault.io"
"""The audience of the identities Nomad signs for Vault (the servers' ``default_identity``); every
Vault JWT role of a job is bound to it."""
CONSUL_AUDIENCE = "consul.io"
"""The audience of the identities Nomad signs for Consul (``service_identity``,
``task_identity``); Consul's ``nomad-workloads`` auth method is bound to it."""
CONSUL_AUTH_METHOD = "nomad-workloads"
"""Consul's JWT auth method for Nomad workload identities (Nomad's default name,
``ConsulWorkloadsDefaultAuthMethodName`` in nomad/structs/consul.go, v1.10.2); the clients'
``service_auth_method``/``task_auth_method``."""
WORKLOAD_CLAIMS = ("nomad_namespace", "nomad_job_id", "nomad_task", "nomad_service", "consul_namespace")
"""Claims Nomad puts in a workload identity (nomad/structs/workload_id.go,
``IdentityClaimsBuilder``, v1.10.2; ``nomad_service`` only in a service's identity, ``consul_namespace``
only with a Consul namespace). Vault roles
bind and map only these; Consul's auth method maps them."""


def jwt_auth_path(env: "Environment") -> str:
    """The Vault JWT backend trusting Nomad's identities: where ``<env>-vault`` mounts it and
    where Nomad clients log in (``vault.jwt_auth_backend_path``, read by clients only:
    client/vaultclient/vaultclient.go ``DeriveTokenWithJWT``, Nomad v1.10.2)."""
    return env.vault.jwt_auth_path


# -- API names and ports ------------------------------------------------------------------------

API_PRODUCTS = ("nomad", "consul", "vault")


def api_host(env: "Environment", product: str) -> str:
    """The DNS name of a product's API, from the environment's address, checked to lie in its
    domain (the private zone names it; the agent certificates carry it)."""
    address = getattr(env, product).address
    host = urlsplit(address).hostname or ""
    if not (host == env.domain or host.endswith("." + env.domain)):
        raise HashistackError(
            f'environment "{env.name}": {product}.address = {address!r}: the API name must lie in the environment\'s '
            f"domain {env.domain!r} (the cluster's private DNS zone), e.g. https://{product}.{env.domain}")
    return host


PROVIDER_ADDRESS_VARIABLES = {"vault": "vault_address", "consul": "consul_address", "nomad": "nomad_address"}
"""The Terraform variable each stack's provider address reads (default: the environment's
address; Consul's as ``host:port``). The operator's tunnel and the bootstrap's first apply set them
as ``TF_VAR_<name>`` (providers read ``VAULT_ADDR`` and the like only when ``address`` is unset)."""

SERVER_API_PORTS = {"nomad": 4646, "consul": 8501, "vault": 8200}
"""Where each product's servers serve its API (Nomad's HTTP default, Consul's HTTPS, Vault's
listener): the load balancers' targets and the operator tunnel's remote ports."""

JOIN_TAG_KEY = "hashistack-join"
"""The EC2 tag by which agents find their peers (cloud auto-join) and the tunnel its servers."""


def join_tag(env: "Environment", role: object) -> tuple[str, str]:
    """The auto-join tag of a node role's instances: ``(hashistack-join, <env>-<role>)``."""
    return JOIN_TAG_KEY, f"{env.name}-{getattr(role, 'value', role)}"


def consul_node_prefix(role: object) -> str:
    """What every Consul node name of a node role starts with: the agents are named
    ``<role>-<instance id>``, and a role's agent token may write only nodes of that prefix, so one
    compromised client cannot rewrite a server's catalogue entry."""
    return f"{getattr(role, 'value', role)}-"


# -- Consul on every node -----------------------------------------------------------------------

CONSUL_HTTPS_PORT = SERVER_API_PORTS["consul"]
CONSUL_GRPC_TLS_PORT = 8503
CONSUL_LOCAL_HTTPS = f"127.0.0.1:{CONSUL_HTTPS_PORT}"
"""Where the agents on a node reach its Consul agent: HTTPS on loopback, verified with the cluster
CA. HTTPS decides which gRPC port Nomad fingerprints: with ``ssl = true`` it reads Consul's
``GRPCTLSPort`` (client/fingerprint/consul.go ``consulState.grpc``, Nomad v1.10.2), and the
Connect sidecar constraint ``${attr.consul.grpc} > 0`` (nomad/job_endpoint_hook_connect.go) needs
that port to be open."""


# -- files on the nodes -------------------------------------------------------------------------

CONFIG_DIRS = {"nomad": "/etc/nomad.d", "consul": "/etc/consul.d", "vault": "/etc/vault.d"}
"""Each agent's config directory (the packages' own): its config, drop-ins and ``tls/``."""


def tls_files(product: str) -> dict[str, str]:
    """The TLS files of a product's agent (written by the boot from SSM, named by its config)."""
    d = CONFIG_DIRS[product]
    return {"ca_file": f"{d}/tls/ca.pem", "cert_file": f"{d}/tls/cert.pem", "key_file": f"{d}/tls/key.pem"}


def ca_file(product: str) -> str:
    """The cluster CA as a product's agent reads it."""
    return tls_files(product)["ca_file"]


# -- boot secrets -------------------------------------------------------------------------------

PARAMETER_PREFIX = "/hashistack/{env}"
"""Where an environment's SSM parameters live: the bootstrap writes them, the nodes read them."""


def parameter_prefix(env: "Environment") -> str:
    return PARAMETER_PREFIX.format(env=env.name)


# -- what the PKI may certify -------------------------------------------------------------------


def permits(domain: str, name: str) -> bool:
    """Whether an X.509 DNS name constraint ``domain`` permits ``name`` (RFC 5280 4.2.1.10: the
    name is the domain or ends in ``.<domain>``)."""
    return name == domain or name.endswith("." + domain)


def certifiable_domains(env: "Environment") -> tuple[str, ...]:
    """The intermediate CA's permitted DNS domains: the environment's domain, Consul's service
    names (``<svc>.service.consul`` and the datacenter-qualified ``<svc>.service.<dc>.consul``,
    which the first does not cover), the public ingress domain, and ``vault.pki_permitted_domains``."""
    public = (env.ingress.public_domain,) if env.ingress else ()
    return tuple(dict.fromkeys((env.domain, "service.consul", f"service.{env.consul.datacenter}.consul", *public,
                                *env.vault.pki_permitted_domains)))


def service_tls_names(service_name: str, env: "Environment", ingress_host: str | None = None) -> tuple[str, ...]:
    """The DNS names a service's certificate may carry: its own identity only, plus its own
    ingress host when it declares one. Each lies under :func:`certifiable_domains`."""
    names = (f"{service_name}.service.consul", f"{service_name}.service.{env.consul.datacenter}.consul",
             f"{service_name}.{env.domain}")
    return (*names, ingress_host) if ingress_host and ingress_host not in names else names
