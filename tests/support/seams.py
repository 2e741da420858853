"""Every seam between two layers, checked at both ends in the synthesized output.

A seam is a value one layer sets and another expects (``hashistack.contracts`` holds each once).
:func:`seam_problems` reads the three synthesized stacks of an environment (``<env>-infra`` with
the nodes' user data, ``<env>-vault``, ``<env>``) and returns one line per end that disagrees
with the contract, so a value set on one side only fails here even when a default hides it.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from hashistack import contracts as c
from hashistack.bootstrap.catalogue import KINDS, catalogue
from hashistack.bootstrap.pki import agent_names
from hashistack.cluster import Role
from hashistack.cluster.cloud_init import STAGING
from hashistack.environment import Environment

from tests.support.boot_docs import ROLES, cloud_config, templates_of, user_data_text
from tests.support import consul_rules
from tests.support.consul_rules import CA_KEYS, named_files
from tests.support.hcl import parse

SEAMS = ("jwt auth path", "vault audience", "consul audience", "consul auth method", "workload claims",
         "api names", "consul on the node", "ca files", "boot secrets", "certifiable names", "operator tunnel",
         "consul node names")
"""The seams :func:`seam_problems` checks (the contracts module's table)."""

def node_files(infra: dict, env: Environment) -> dict[Role, dict[str, str]]:
    """Each node role's staged files (path -> content) and its boot script, from the user data."""
    return {role: {f["path"].removeprefix(STAGING): f["content"]
                   for f in cloud_config(user_data_text(template))["write_files"]}
            for role, template in templates_of(infra, env).items()}


def _secret_files(script: str) -> dict[str, str]:
    """path -> SSM parameter, from the boot script's ``secret PARAMETER PATH ...`` lines."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^secret (\S+) (\S+) ", script, re.M)}


def _only(resources: dict, rtype: str) -> list[dict]:
    return list((resources.get(rtype) or {}).values())


def seam_problems(env: Environment, infra: dict, vault: dict, services: dict) -> list[str]:
    problems: list[str] = []

    def expect(seam: str, where: str, have: object, want: object) -> None:
        if have != want:
            problems.append(f"{seam}: {where} = {have!r}, the contract says {want!r}")

    files = node_files(infra, env)
    cfg = {role: {name: parse(files[role][path]) for name, path in
                  (("nomad", "/etc/nomad.d/nomad.hcl"), ("consul", "/etc/consul.d/consul.hcl"),
                   ("vault", "/etc/vault.d/vault.hcl")) if path in files[role]} for role in ROLES}
    scripts = {role: files[role]["/usr/local/sbin/hashistack-boot"] for role in ROLES}
    vr = vault["resource"]

    # Vault JWT auth path: the backend's path <-> the clients' jwt_auth_backend_path
    ((backend_id, backend),) = [(k, b) for k, b in (vr.get("vault_jwt_auth_backend") or {}).items() if b.get("jwks_url")]
    path = c.jwt_auth_path(env)
    expect("jwt auth path", f"{env.name}-vault: vault_jwt_auth_backend.path", backend["path"], path)
    expect("jwt auth path", "nomad-client: vault.jwt_auth_backend_path",
           cfg[Role.NOMAD_CLIENT]["nomad"]["vault"][0].get("jwt_auth_backend_path"), path)

    # audiences: what Nomad signs <-> what Vault and Consul accept
    server_nomad = cfg[Role.NOMAD_SERVER]["nomad"]
    expect("vault audience", "nomad-server: vault.default_identity.aud",
           server_nomad["vault"][0]["default_identity"][0]["aud"], [c.VAULT_AUDIENCE])
    for role in _only(vr, "vault_jwt_auth_backend_role"):
        if role["backend"] != f"${{vault_jwt_auth_backend.{backend_id}.path}}":
            continue  # the operators' and CI's logins: not Nomad's identities
        expect("vault audience", f"{env.name}-vault: JWT role {role['role_name']}.bound_audiences",
               role["bound_audiences"], [c.VAULT_AUDIENCE])
        unknown = sorted(set(role.get("bound_claims") or {}) | set(role.get("claim_mappings") or {}))
        unknown = [k for k in unknown if k not in c.WORKLOAD_CLAIMS]
        if unknown:
            problems.append(f"workload claims: JWT role {role['role_name']} binds or maps {unknown}, claims Nomad "
                            "never signs")
    (method,) = _only(vr, "consul_acl_auth_method")
    config = json.loads(method["config_json"])
    for block in ("service_identity", "task_identity"):
        expect("consul audience", f"nomad-server: consul.{block}.aud",
               server_nomad["consul"][0][block][0]["aud"], [c.CONSUL_AUDIENCE])
    expect("consul audience", f"{env.name}-vault: consul auth method BoundAudiences", config["BoundAudiences"],
           [c.CONSUL_AUDIENCE])
    unknown = [k for k in config.get("ClaimMappings") or {} if k not in c.WORKLOAD_CLAIMS]
    if unknown:
        problems.append(f"workload claims: the Consul auth method maps {unknown}, claims Nomad never signs")
    expect("consul auth method", f"{env.name}-vault: consul_acl_auth_method.name", method["name"],
           c.CONSUL_AUTH_METHOD)
    client_consul = cfg[Role.NOMAD_CLIENT]["nomad"]["consul"][0]
    for key in ("service_auth_method", "task_auth_method"):
        expect("consul auth method", f"nomad-client: consul.{key}", client_consul.get(key), c.CONSUL_AUTH_METHOD)

    # API names: DNS records, agents' addresses, Vault's raft TLS name, providers, certificates
    records = sorted(r["name"] for r in _only(infra["resource"], "aws_route53_record"))
    expect("api names", f"{env.name}-infra: private zone records", records,
           sorted(c.api_host(env, p) for p in c.API_PRODUCTS))
    vault_host = c.api_host(env, "vault")
    for role in (Role.NOMAD_SERVER, Role.NOMAD_CLIENT):
        expect("api names", f"{role.value}: vault.address", cfg[role]["nomad"]["vault"][0]["address"],
               env.vault.address)
    retry = cfg[Role.VAULT_SERVER]["vault"]["storage"][0]["raft"]["retry_join"][0]
    expect("api names", "vault-server: raft retry_join.leader_tls_servername", retry["leader_tls_servername"],
           vault_host)
    expect("api names", f"{env.name}-vault: jwks_url host", urlsplit(backend["jwks_url"]).hostname,
           c.api_host(env, "nomad"))
    defaults = {name: v.get("default") for stack in (vault, services) for name, v in (stack.get("variable") or {}).items()}
    expect("api names", "vault_address variable default", defaults.get(c.PROVIDER_ADDRESS_VARIABLES["vault"]),
           env.vault.address)
    expect("api names", "nomad_address variable default", defaults.get(c.PROVIDER_ADDRESS_VARIABLES["nomad"]),
           env.nomad.address)
    expect("api names", "consul_address variable default", defaults.get(c.PROVIDER_ADDRESS_VARIABLES["consul"]),
           urlsplit(env.consul.address).netloc)
    for stack, product in ((vault, "vault"), (vault, "consul"), (services, "nomad")):
        expect("api names", f"{product} provider address", stack["provider"][product][0]["address"],
               f"${{var.{c.PROVIDER_ADDRESS_VARIABLES[product]}}}")
    for field, product in (("nomad_server_cert", "nomad"), ("consul_server_cert", "consul"), ("vault_cert", "vault")):
        names = agent_names(env, KINDS[field].agent)
        if c.api_host(env, product) not in names.dns or "127.0.0.1" not in names.ips:
            problems.append(f"api names: {field} carries {names.dns + names.ips}, not {c.api_host(env, product)} and "
                            "127.0.0.1 (the load balancer's name and the tunnel's address)")

    # Consul on the node: Nomad dials HTTPS on loopback; the agent serves it there, and gRPC TLS
    for role in (Role.NOMAD_SERVER, Role.NOMAD_CLIENT):
        nc = cfg[role]["nomad"]["consul"][0]
        expect("consul on the node", f"{role.value}: nomad consul.(address, ssl)", (nc["address"], nc.get("ssl")),
               (c.CONSUL_LOCAL_HTTPS, True))
        agent = cfg[role]["consul"]
        https = agent["addresses"][0]["https"].split()
        expect("consul on the node", f"{role.value}: consul (127.0.0.1 in addresses.https, ports.https)",
               ("127.0.0.1" in https, agent["ports"][0]["https"]), (True, c.CONSUL_HTTPS_PORT))
    expect("consul on the node", "nomad-client: consul.grpc_address port",
           int(client_consul["grpc_address"].rsplit(":", 1)[1]), cfg[Role.NOMAD_CLIENT]["consul"]["ports"][0]["grpc_tls"])

    # CA files: every agent's ca_file is where the boot writes the cluster CA
    ca_parameter = f"{c.parameter_prefix(env)}/ca-cert"
    for role in ROLES:
        written = _secret_files(scripts[role])
        for product, parsed in cfg[role].items():
            for ca in named_files(parsed, CA_KEYS):
                expect("ca files", f"{role.value}: {product} names {ca}", written.get(ca), ca_parameter)

    # boot secrets: what the boots read is what phase secrets writes and what the roles may read
    items = {i.parameter: i for i in catalogue(env)}
    policies = {key: json.loads(p["policy"]) for key, p in (infra["resource"].get("aws_iam_role_policy") or {}).items()}
    for role in ROLES:
        read = set(re.findall(r"^fetch (.+)$", scripts[role], re.M))
        fetched = {p for line in read for p in line.split()}
        for parameter in sorted(fetched):
            item = items.get(parameter)
            if item is None or item.phase != "secrets":
                problems.append(f"boot secrets: {role.value} fetches {parameter} at boot, which phase secrets does "
                                "not write")
        allowed = {r.rsplit(":parameter", 1)[1] for key, p in policies.items() if key.startswith(f"cluster_{role.value}_")
                   for s in p["Statement"] if s.get("Sid") == "ReadOwnSecrets" for r in s["Resource"]}
        missing = sorted(fetched - allowed)
        if missing:
            problems.append(f"boot secrets: {role.value} fetches {missing}, which no instance role may read")

    # certifiable names: what services may ask for lies under the intermediate's permitted domains
    (sign,) = _only(vr, "vault_pki_secret_backend_root_sign_intermediate")
    permitted = sign.get("permitted_dns_domains") or []
    expect("certifiable names", f"{env.name}-vault: permitted_dns_domains", permitted, list(c.certifiable_domains(env)))
    names = [n for role in _only(vr, "vault_pki_secret_backend_role") for n in role.get("allowed_domains") or []]
    names += [n for s in _services(services) for n in c.service_tls_names(s, env)]
    for name in sorted(set(names)):
        if not any(c.permits(d, name) for d in permitted):
            problems.append(f"certifiable names: {name} may be issued but lies under none of {permitted} (openssl "
                            "verify: permitted subtree violation)")

    # Consul node names: every agent is <role>-<instance id>, filled in by the boot; the role's
    # agent token writes that name and no other role's (Consul's rule resolution, consul_rules.py)
    from hashistack.bootstrap.phase_cluster import CONSUL_POLICIES
    from hashistack.cluster.cloud_init import INSTANCE_ID

    policies = {name: {"Rules": rules} for name, rules in CONSUL_POLICIES.items()}
    for role in ROLES:
        name = cfg[role]["consul"].get("node_name")
        expect("consul node names", f"{role.value}: consul.hcl node_name", name, c.consul_node_prefix(role) + INSTANCE_ID)
        if "/etc/consul.d/consul.hcl" not in scripts[role].split(INSTANCE_ID, 1)[-1]:
            problems.append(f"consul node names: {role.value}: the boot never fills in the instance id of consul.hcl")
        token = {"t": {"Policies": [{"Name": f"agent-{role.value}"}]}}
        for other in ROLES:
            node = c.consul_node_prefix(other) + "i-0123456789abcdef0"
            if consul_rules.grants(token, policies, "t", "node", "write", node) != (other is role):
                problems.append(f"consul node names: agent-{role.value} {'cannot' if other is role else 'can'} "
                                f"write the node {node}")

    # operator tunnel: the servers serve their API on the tunnel's remote ports
    expect("operator tunnel", "nomad-server: ports.http", (server_nomad.get("ports") or [{}])[0].get("http", 4646),
           c.SERVER_API_PORTS["nomad"])
    expect("operator tunnel", "consul-server: ports.https", cfg[Role.CONSUL_SERVER]["consul"]["ports"][0]["https"],
           c.SERVER_API_PORTS["consul"])
    listener = cfg[Role.VAULT_SERVER]["vault"]["listener"][0]["tcp"]["address"]
    expect("operator tunnel", "vault-server: listener address port", int(listener.rsplit(":", 1)[1]),
           c.SERVER_API_PORTS["vault"])
    return problems


def _services(services: dict) -> list[str]:
    return sorted(json.loads(j["jobspec"])["Job"]["ID"] for j in (services["resource"].get("nomad_job") or {}).values())
