"""What one Go service needs, worked out in plain Python: the Nomad job, its Vault policy, its
JWT role and its PKI role. :class:`~hashistack.service.GoService` only turns a
:class:`ServicePlan` into provider resources, so every rule here is tested without jsii.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

from .. import nomad as n
from .._types import check_types
from .._validate import RFC1123_HINT, is_container_path, is_dns_name, is_rfc1123_label
from ..contracts import VAULT_AUDIENCE, service_tls_names
from ..environment import Environment, Tier
from ..errors import Checker, HashistackError
from ..nomad.interpolation import unknown_interpolations
from ..nomad.vault_calls import vault_calls
from ..vault.jwt import JwtRole
from ..vault.pki import PkiRole
from ..vault.policy import Policy, Rule
from ..consul.intentions import INGRESS_PROXY, Upstream
from .options import (
    ConfigFile,
    HealthCheck,
    Ingress,
    Logs,
    OnChange,
    RegistryAuth,
    Tls,
    Update,
    VaultSecret,
    check_kv_path,
)

__all__ = ["APPLY_TIMEOUT_MARGIN_S", "GRPC_HEALTH_PATH", "HEALTH_LISTENER", "IngressRoute", "LOCAL_PORT_BASE",
           "LOCAL_PORT_CEILING", "ServicePlan",
           "ServiceSpec", "plan_service"]

LOCAL_PORT_BASE = 10000
"""The first loopback port of the ingress proxy's upstreams: each routed service takes a port of
its own in 10000-18999, a hash of its name (:func:`hashistack.ingress.routes.stable_port`) unless
it pins one. The range lies above every agent port (Nomad 4646-4648, Vault 8200-8201, Consul
8300-8302, 8500-8503, 8600) and below Envoy's admin and ready
listeners (19000+ on 127.0.0.2 and 19100+ on 127.0.0.1, Nomad's
client/allocrunner/taskrunner/envoy_bootstrap_hook.go) and Nomad's dynamic ports (20000-32000)."""

LOCAL_PORT_CEILING = 19000
"""One past the last loopback port an upstream of the proxy may take."""

# Added to the progress deadline for the nomad_job create/update timeouts.
APPLY_TIMEOUT_MARGIN_S = 300

# The port label of the sidecar's listener for a health check's expose path.
HEALTH_LISTENER = "expose-health"
# The HTTP/2 path of the standard gRPC health service (grpc.health.v1.Health/Check): what
# Consul's gRPC check calls, hence what an expose path for a gRPC check must let through.
GRPC_HEALTH_PATH = "/grpc.health.v1.Health/Check"
# Nomad's default dynamic port range (nomad/structs/network.go, DefaultMinDynamicPort and
# DefaultMaxDynamicPort, 1.9-1.11). Inside a bridge network, the sidecar's inbound listener and
# expose listeners bind the host port's own number (to = -1), taken from this range.
_DYNAMIC_PORTS = range(20000, 32001)

_AZ_ATTRIBUTE = "${attr.platform.aws.placement.availability-zone}"


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """Everything a user says about one Go service: the one declaration of its props.

    Every prop but ``name`` and ``image`` has a default, stated below as behaviour; ``None``
    means that default. :class:`~hashistack.service.GoService` deploys a spec, and an
    environment's :class:`~hashistack.catalogue.EnvironmentServices` plans it once.

    Example::

        ServiceSpec(
            name="payments",
            image="registry.example.com/payments:1.4.2",
            config_files=(ConfigFile.from_path("services/payments/app.conf", mount_at="/app/config/app.conf"),),
            secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
            tls=Tls(mount_dir="/app/tls"),
            health=HealthCheck.http("/health", tls="skip-verify"),
            user="65532:65532",
            env={"LOG_LEVEL": "info"},
        )
    """

    name: str
    """The service: names the Nomad job, its task group and task, its Vault policy and roles, and
    (unless ``service_name``) its registration. An RFC 1123 label of at most 63 characters."""
    image: str
    """The docker image. Outside development it must carry a version tag or a digest (not
    ``:latest``)."""
    port: int = 8080
    """The port the app listens on. Default: 8080. In the mesh (every service registered in
    Consul, the default) no host port maps to it: the group has a bridge network, the service is
    registered with that port number and is reached only through its Connect sidecar, with mutual
    TLS and Consul's intentions. Registered in Nomad's catalogue (``registration="nomad"``), a
    dynamic host port labelled ``port_label`` maps to it."""
    port_label: str = "http"
    """The label of the app's port. Default: ``http``."""
    static_port: int | None = None
    """A fixed host port mapped to ``port`` (count 1 or a system job), which also bypasses the
    mesh: meant for the ingress proxy. Default: none."""
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    """More ``{label: container_port}``, each mapped from a dynamic host port (outside the mesh).
    Default: none."""
    count: int | None = None
    """Allocations. Default: 2 in production, 1 elsewhere; a system job has none."""
    command: str | None = None
    """The entrypoint. Default: the image's."""
    args: tuple[str, ...] = ()
    """The entrypoint's arguments. Default: the image's."""
    registry_auth: RegistryAuth | None = None
    """Credentials for a private registry, read from Vault (:class:`RegistryAuth`). Default: none."""
    config_files: tuple[ConfigFile, ...] = ()
    """Config files (:class:`ConfigFile`), the ConfigMap equivalent: rendered 0644, mounted by
    directory (the directory of each ``mount_at``, read-only) so a re-rendered file reaches the
    app. A config file may not read Vault. Default: none."""
    secrets: tuple[VaultSecret, ...] = ()
    """Secrets (:class:`VaultSecret`) from KV v2 at ``<kv>/data/<env>/<path>``, as 0400 files or
    environment variables, each granted by the service's own policy. Default: none."""
    tls: Tls | None = None
    """A certificate (:class:`Tls`) from the environment's PKI intermediate, for the service's own
    names only. Default: none."""
    health: HealthCheck | None = None
    """The health check (:class:`HealthCheck`). Default: none, which production refuses. With
    ``tls``, an http/grpc check says how it connects (``tls="verify"|"skip-verify"|"plain"``). In
    the mesh a plain http/grpc check goes through an ``expose`` path of the sidecar (a listener
    labelled ``expose-health`` that lets exactly the check's path through); a check that speaks
    TLS to the app uses ``address_mode = "alloc"`` (the app must listen on all its interfaces).
    Nomad refuses tcp checks on a service in the mesh."""
    update: Update | None = None
    """The rollout (:class:`Update`). Default: an auto-promoted canary of 1 in production, a
    rolling update elsewhere (a system job rolls node by node). Manual promotion is refused where
    ``terraform apply`` waits (staging and production), and the ``nomad_job`` waits past the
    progress deadline."""
    cpu_mhz: int = 500
    """CPU reserved, in MHz. Default: 500. ``GOMAXPROCS`` is derived from it unless ``env`` sets it."""
    memory_mib: int = 256
    """Memory reserved, in MiB. Default: 256. ``GOMEMLIMIT`` is 90% of the ceiling
    (``memory_max_mib`` when set, else this) unless ``env`` sets it."""
    memory_max_mib: int | None = None
    """The memory ceiling above the reservation. Default: none; needs the environment's
    ``NomadSettings(memory_oversubscription=True)``."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables, each set once across ``env``, secrets and registry auth; a
    ``${...}`` must be a variable Nomad resolves. Default: none."""
    service_name: str | None = None
    """The registered name. Default: ``name``."""
    tags: tuple[str, ...] = ()
    """Registration tags; ``env-<env>`` is added, and canaries carry the tags plus ``canary``.
    Default: none."""
    registration: Literal["consul", "nomad"] = "consul"
    """``consul``: in Consul's mesh (the default); ``nomad``: Nomad's own catalogue, outside the
    mesh (http and tcp checks only, no upstreams, no ingress)."""
    logs: Logs = field(default_factory=Logs)
    """Log rotation (:class:`Logs`). Default: Nomad's (10 files of 10 MiB)."""
    kill_signal: str = "SIGTERM"
    """The signal that stops the task. Default: SIGTERM."""
    kill_timeout_s: float = 30
    """Seconds between the kill signal and SIGKILL. Default: 30; at most the clients'
    ``max_kill_timeout`` and the progress deadline."""
    shutdown_delay_s: float = 5
    """Seconds between deregistration and the kill signal, so callers stop sending. Default: 5."""
    restart: n.RestartPolicy = field(default_factory=n.RestartPolicy)
    """Restarts on the same node before rescheduling. Default: 2 attempts in 30 minutes."""
    spread_across_azs: bool = True
    """Spread the allocations over the availability zones. Default: on (when count > 1)."""
    user: str | None = None
    """The numeric ``uid:gid`` the container runs as (e.g. ``"65532:65532"``, distroless
    nonroot); rendered files are owned by it. Default: the image's user, with files owned by root
    (a non-root image then cannot read its 0400 secrets)."""
    reloads_on: str | None = None
    """The signal the program handles to reload config and certificates, e.g. ``"SIGHUP"``.
    Default: none, so a changed file restarts the task; an option's own ``on_change`` wins."""
    upstreams: tuple[Upstream, ...] = ()
    """The services this one calls through the mesh (``Upstream("ledger", local_port=9091)``: the
    app dials ``127.0.0.1:9091``). Each local port is used once, is not the app's own port and lies
    outside Nomad's dynamic range; each upstream is a Consul-registered service of the
    environment. The environment's intentions (default deny) allow exactly these calls. Default:
    none."""
    ingress: Ingress | None = None
    """How users reach the service from outside (:class:`Ingress`), through the environment's load
    balancer and ingress proxy. The host is the environment's public domain or one label below it;
    plain HTTP is refused outside development. Default: none (reachable in the mesh only)."""
    job_type: Literal["service", "system"] = "service"
    """``service``: ``count`` allocations (the default); ``system``: one allocation on every
    eligible client (no count, no spread, rolled node by node), as the ingress proxy runs."""
    sidecar_cpu_mhz: int = 250
    """CPU the Envoy sidecar reserves per allocation, in MHz. Default: 250 (Nomad's)."""
    sidecar_memory_mib: int = 128
    """Memory the Envoy sidecar reserves per allocation, in MiB. Default: 128 (Nomad's)."""
    customize: Callable[[n.Job], n.Job] | None = None
    """The escape hatch: a function given the job the spec built, returning the job to deploy
    (e.g. ``lambda job: dataclasses.replace(job, priority=70)``). It runs before validation, so
    what it writes is checked like the rest: Nomad's rules, templates that read Vault only under
    ``secrets/`` and only what the service's policy grants. It may not change who the job is or
    what it exposes (job id, namespace, type, region, datacenters, group and task names, networks
    and ports, registered services and their upstreams, the Vault role and workload identities):
    those follow from the spec's own props, which the access layer reads too. Default: none."""


def _checked_init(init):
    """ServiceSpec's generated ``__init__``, with a misspelt or missing prop reported like every other
    bad input (where, field, value, fix) instead of as a TypeError. Type checkers still see the
    generated, fully typed signature."""
    known = {f.name: f for f in dataclasses.fields(ServiceSpec)}
    required = [name for name, f in known.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    @functools.wraps(init)
    def __init__(self, **props):
        where = props.get("name", "service")
        for prop in sorted(props):
            if prop not in known:
                raise HashistackError(f"{where}: {prop} = {props[prop]!r}: not a GoService prop; use one of "
                                      f"{sorted(set(known) - {'name'})}")
        for prop in required:
            if prop not in props:
                raise HashistackError(f"{where}: {prop} = (missing): every service needs one")
        init(self, **props)
        check_types(self, where if isinstance(where, str) else "service", construct="ServiceSpec")

    return __init__


ServiceSpec.__init__ = _checked_init(ServiceSpec.__init__)  # type: ignore[method-assign]


@dataclass(frozen=True, kw_only=True)
class IngressRoute:
    """What the ingress proxy needs to route users to one service, taken from its validated plan.

    The proxy reaches the service through its own Connect sidecar (an upstream named
    ``service``), so no address or port of the service appears here.

    :param service: the service's Consul name: the proxy's upstream, and the destination of the
        intention ``ingress-proxy -> service``.
    :param host: the public host name, the environment's public domain or one label below it.
    :param path: the path prefix routed to the service (starts with ``/``).
    :param https: users reach the host over HTTPS (:meth:`Ingress.https`); ``False`` only for
        :meth:`Ingress.http`, which is refused outside development.
    :param backend_tls: the service serves TLS itself (``tls=``): the proxy speaks HTTPS to it
        (inside the mesh's mutual TLS), trusting the environment's Vault PKI CA.
    :param server_name: the name the proxy verifies the service's certificate against: the
        ingress host when the certificate carries it, else the certificate's common name.
        ``None`` without ``backend_tls``.
    :param local_port: the proxy's loopback port for the service when the ingress pins one
        (``Ingress(local_port=...)``), else ``None`` (the port derived from the service's name).
    """

    service: str
    host: str
    path: str
    https: bool
    backend_tls: bool
    server_name: str | None
    local_port: int | None = None


@dataclass(frozen=True, kw_only=True)
class ServicePlan:
    """The job, policy and roles of one service in one environment, already validated.

    ``mesh`` says the service is in the Consul service mesh (every Consul-registered service);
    ``upstreams`` are the services it calls through its sidecar; ``ingress`` is its route from
    the ingress proxy, or ``None``. The job carries no intention and no Consul ACL: those are
    the operators' (the access layer, ``<env>-vault``).
    """

    job: n.Job
    policy: Policy | None
    jwt_role: JwtRole | None
    pki_role: PkiRole | None
    apply_timeout_s: int | None = None
    mesh: bool = False
    upstreams: tuple[Upstream, ...] = ()
    ingress: IngressRoute | None = None

    @property
    def jobspec(self) -> str:
        return n.render_job(self.job)

    def template_reads(self) -> list[tuple[str, str]]:
        """Every (Vault path, capability) the job's templates use, found in the rendered templates."""
        reads = []
        for group in self.job.groups:
            for task in group.tasks:
                for template in task.templates:
                    reads += [(call.path, call.capability) for call in vault_calls(template.data)
                              if call.path is not None]
        return sorted(set(reads))


def _mode(on_change: OnChange) -> dict:
    return {"change_mode": on_change.mode, "change_signal": on_change.change_signal}


def _quote(text: str) -> str:
    return json.dumps(text)


def _key(key: str) -> str:
    """A KV key in a template: ``.Data.data.key``, or ``index .Data.data "my-key"`` for keys that
    are not Go identifiers."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f".Data.data.{key}"
    return f"index .Data.data {_quote(key)}"


_IMAGE_PINNED = re.compile(r"(@sha256:[0-9a-f]{64}|:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\Z")
_USER = re.compile(r"^(\d+)(?::(\d+))?$")


@dataclass
class _Build:
    """What the option builders contribute, assembled into the task by :func:`plan_service`."""

    spec: ServiceSpec
    env: Environment
    check: Checker
    service_name: str
    ids: tuple[int, int] | None
    templates: list[n.Template] = field(default_factory=list)
    # container directory -> [(file name, template kwargs, sensitive)]
    files: dict[str, list[tuple[str, dict, bool]]] = field(default_factory=dict)
    mounts: list[n.Mount] = field(default_factory=list)
    env_vars: dict[str, str] = field(default_factory=dict)  # name -> where it comes from
    policy_rules: dict[str, Rule] = field(default_factory=dict)
    auth: n.DockerAuth | None = None
    pki_role: PkiRole | None = None
    common_name: str | None = None
    cert_names: tuple[str, ...] = ()
    ingress_host: str | None = None

    def grant(self, path: str, capability: str, why: str) -> None:
        if path not in self.policy_rules:
            self.policy_rules[path] = Rule(path=path, capabilities=(capability,), comment=why)

    def on_change(self, explicit: OnChange | None) -> OnChange:
        """The explicit choice, else the service's ``reloads_on`` signal, else a restart."""
        if explicit is not None:
            return explicit
        return OnChange.signal(self.spec.reloads_on) if self.spec.reloads_on else OnChange.restart()

    def owner(self) -> dict:
        return {"uid": self.ids[0], "gid": self.ids[1]} if self.ids else {}

    def declare_env(self, name: str, source: str) -> None:
        if name in self.env_vars:
            self.check.fail("env", name, f"set twice: by {self.env_vars[name]} and by {source}; set each variable once")
        self.env_vars[name] = source

    def add_file(self, mount_at: str, field_name: str, template: dict, sensitive: bool) -> None:
        self.check.require(is_container_path(mount_at) and ".." not in mount_at.split("/")
                           and posixpath.dirname(mount_at) not in ("/", "") and not mount_at.endswith("/"),
                           field_name, mount_at,
                           "use the absolute container path the app reads, in a directory of its own, "
                           "e.g. '/app/config/app.conf' (its directory is mounted)")
        directory, name = posixpath.split(mount_at)
        entries = self.files.setdefault(directory, [])
        self.check.require(name not in [e[0] for e in entries], field_name, mount_at,
                           "another file is already mounted at this path: give each file its own path")
        entries.append((name, template, sensitive))


def _label_fix(value: object) -> str:
    """What is wrong with a service name, and a name that would do: it names the job, the task
    group, the Consul/Nomad service (RFC 1123 label, 63 characters), the Vault role and policy."""
    if not isinstance(value, str) or not value:
        return RFC1123_HINT
    problems = []
    if value != value.lower():
        problems.append("it has upper-case letters")
    if re.search(r"[^A-Za-z0-9-]", value):
        problems.append(f"it has characters other than letters, digits and '-' ({sorted(set(re.findall(r'[^A-Za-z0-9-]', value)))})")
    if not re.match(r"[A-Za-z0-9]", value) or not re.search(r"[A-Za-z0-9]\Z", value):
        problems.append("it starts or ends with something other than a letter or digit")
    if len(value) > 63:
        problems.append(f"it has {len(value)} characters, above 63")
    suggestion = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", value.lower())).strip("-")[:63].strip("-")
    fix = "; ".join(problems) or RFC1123_HINT
    return f"{fix}: use a name of lowercase letters, digits and '-' of at most 63 characters" + (
        f", e.g. {suggestion!r}" if suggestion and is_rfc1123_label(suggestion) else "")


def _config_files(b: _Build) -> None:
    """Config files: the ConfigMap equivalent, rendered in the task directory and mounted by directory."""
    for cfg in b.spec.config_files:
        b.check.require(not n.Template(destination="local/x", data=cfg.content).reads_vault,
                        f"config_files[{cfg.name}]", cfg.mount_at,
                        "a config file is not a secret and must not read Vault: declare the secret with "
                        "VaultSecret.kv(...) (rendered 0400 under secrets/ and granted by the service's policy)")
        b.add_file(cfg.mount_at, f"config_files[{cfg.name}].mount_at",
                   {"data": cfg.content, "perms": "0644", **_mode(b.on_change(cfg.on_change))}, sensitive=False)


def _secrets(b: _Build) -> None:
    """Secrets: the Secret equivalent, as files (0400, owned by the container user) or env vars."""
    kv, env = b.env.vault.kv_mount, b.env
    for secret in b.spec.secrets:
        secret._validate(b.check.where, kv_mount=kv, env_names=(env.name,))
        path = f"{kv}/data/{env.name}/{secret.path}"
        b.grant(path, "read", f"secret {secret.path}")
        stem = secret.path.replace("/", "-")
        if secret.template is not None:
            calls = vault_calls(secret.template)
            b.check.require(not calls, f"secrets[{secret.path}].template", _excerpt(secret.template),
                            f"the template renders inside {{{{ with secret {_quote(path)} }}}}, written for you, and "
                            f"reads that secret's keys (.Data.data.<key>); it may not call Vault itself "
                            f"({calls[0].function if calls else ''}): declare each other secret as a VaultSecret of "
                            "its own, a certificate with Tls(...)")
        if secret.mount_at is not None:
            body = secret.template if secret.template is not None else "{{ .Data.data | toJSON }}"
            b.add_file(secret.mount_at, f"secrets[{secret.path}].mount_at",
                       {"data": f"{{{{ with secret {_quote(path)} }}}}{body}{{{{ end }}}}\n", "perms": "0400",
                        **_mode(b.on_change(secret.on_change))}, sensitive=True)
        if secret.env:
            for var, _ in secret.env:
                b.declare_env(var, f"secrets[{secret.path}].env")
            lines = "".join(f"{var}={{{{ {_key(key)} | toJSON }}}}\n" for var, key in secret.env)
            b.templates.append(n.Template(
                destination=f"secrets/{stem}.env", perms="0400", sensitive=True, env=True,
                data=f"{{{{ with secret {_quote(path)} }}}}\n{lines}{{{{ end }}}}\n",
                **_mode(secret.on_change or OnChange.restart())))


def _excerpt(text: str, limit: int = 60) -> str:
    """A long template cut for a message."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _registry_auth(b: _Build) -> None:
    """Private registry credentials, from Vault into env vars the docker auth block interpolates."""
    if not b.spec.registry_auth:
        return
    ra, kv, env = b.spec.registry_auth, b.env.vault.kv_mount, b.env
    check_kv_path(b.check.where, "registry_auth.path", ra.path, kv_mount=kv, env_names=(env.name,))
    path = f"{kv}/data/{env.name}/{ra.path}"
    b.grant(path, "read", "private registry credentials")
    for var in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD"):
        b.declare_env(var, "registry_auth")
    b.templates.append(n.Template(
        destination="secrets/registry.env", perms="0400", sensitive=True, env=True, change_mode="noop",
        data=(f"{{{{ with secret {_quote(path)} }}}}\n"
              f"REGISTRY_USERNAME={{{{ {_key(ra.username_key)} | toJSON }}}}\n"
              f"REGISTRY_PASSWORD={{{{ {_key(ra.password_key)} | toJSON }}}}\n{{{{ end }}}}\n")))
    b.auth = n.DockerAuth(username="${REGISTRY_USERNAME}", password="${REGISTRY_PASSWORD}")


def _tls(b: _Build) -> None:
    """TLS from the PKI intermediate: one pkiCert issuance, one bundle, its directory mounted."""
    tls, spec, vault, check = b.spec.tls, b.spec, b.env.vault, b.check
    if not tls:
        return
    common_name = tls.common_name or f"{b.service_name}.service.consul"
    names = (common_name, *tls.alt_names)
    for name in names:
        check.require(is_dns_name(name) and "*" not in name, "tls.common_name/alt_names", name,
                      "use lowercase DNS names; wildcard certificates are not issued")
    check.require(len(set(names)) == len(names), "tls.alt_names", tls.alt_names, "list each name once")
    allowed = service_tls_names(b.service_name, b.env, b.ingress_host)
    for name in names:
        # The PKI role allows exactly these names: a name outside the service's own identity
        # would let this service obtain a certificate for another service or domain.
        check.require(name in allowed, "tls.common_name" if name == common_name else "tls.alt_names", name,
                      f"a service's certificate carries only its own names: {list(allowed)}")
    leaf_max = vault.pki_leaf_max_ttl_h
    check.require(isinstance(tls.ttl_h, int) and 1 <= tls.ttl_h <= leaf_max, "tls.ttl_h", tls.ttl_h,
                  f"use 1 to {leaf_max} hours (the environment's pki_leaf_max_ttl_h); short-lived certificates "
                  "are re-issued automatically")
    check.require(is_container_path(tls.mount_dir) and posixpath.normpath(tls.mount_dir) == tls.mount_dir
                  and tls.mount_dir != "/", "tls.mount_dir", tls.mount_dir,
                  "use an absolute container directory, e.g. '/app/tls'")
    check.require(tls.mount_dir not in b.files, "tls.mount_dir", tls.mount_dir,
                  "config or secret files are mounted in this directory too: give the certificate its own directory")
    issue = f"{vault.pki_intermediate_mount}/issue/{spec.name}"
    b.grant(issue, "update", "TLS certificate for the service")
    args = [f"common_name={common_name}", f"ttl={tls.ttl_h}h"]
    if tls.alt_names:
        args.append("alt_names=" + ",".join(tls.alt_names))
    call = " ".join(_quote(a) for a in (issue, *args))
    b.templates.append(n.Template(
        destination=f"secrets/tls/{tls.bundle_name}", perms="0400", sensitive=True,
        data=f"{{{{ with pkiCert {call} }}}}\n{{{{ .Key }}}}\n{{{{ .Cert }}}}\n{{{{ .CA }}}}\n{{{{ end }}}}\n",
        **b.owner(), **_mode(b.on_change(tls.on_change))))
    b.mounts.append(n.Mount(source="secrets/tls", target=tls.mount_dir))
    b.common_name = common_name
    b.cert_names = names
    b.pki_role = PkiRole(mount=vault.pki_intermediate_mount, name=spec.name, allowed_domains=names,
                         max_ttl_h=tls.ttl_h).lint(vault.pki, where=b.check.where)


def _mount_files(b: _Build) -> None:
    """One task directory per container directory, mounted whole: consul-template replaces a
    file by rename, and a single-file bind mount would keep showing the old inode."""
    for i, directory in enumerate(sorted(b.files)):
        entries = b.files[directory]
        slug = directory.strip("/").replace("/", "-").replace("_", "-") or "root"
        base = "secrets" if any(sensitive for _, _, sensitive in entries) else "local"
        source = f"{base}/mnt/{slug}"
        for name, template, sensitive in entries:
            b.templates.append(n.Template(destination=f"{source}/{name}", sensitive=sensitive, **b.owner(),
                                          **template))
        b.mounts.append(n.Mount(source=source, target=directory))


def _health(b: _Build, mesh: bool) -> tuple[tuple[n.Check, ...], tuple[n.ExposePath, ...], tuple[n.Port, ...]]:
    """The service's health check; in the mesh also the sidecar's expose path and its listener
    port.

    A service in the mesh listens only inside its allocation's network namespace. A plain
    http/grpc check goes through an expose path of its sidecar (a listener on a dynamic host
    port, ``to = -1``, forwarding exactly the check's path to the app). A check that speaks TLS
    to the app (``tls="verify"``/``"skip-verify"``) cannot go through Envoy's plain expose
    listener, so it uses ``address_mode = "alloc"``: the Consul agent on the same node connects
    to the allocation's bridge address and the app's own port; other nodes cannot reach it.
    """
    h, spec, check = b.spec.health, b.spec, b.check
    if not h:
        return (), (), ()
    mode = h.tls
    check.require(mode in (None, "verify", "skip-verify", "plain"), "health.tls", mode,
                  "use 'verify', 'skip-verify' or 'plain'")
    if spec.tls and h.type in ("http", "grpc"):
        check.require(mode is not None, "health.tls", mode,
                      f"the service serves TLS: say how the {h.type} check connects: tls='verify' (Consul verifies "
                      "the certificate and its name), 'skip-verify' (TLS, unverified: proves liveness only) or "
                      "'plain' (a port that serves plain traffic)")
    if h.type == "tcp":
        check.require(mode in (None, "plain"), "health.tls", mode, "a tcp check only opens a connection: drop health.tls")
        # nomad/structs/services.go, Service.validateConsulService: "tcp checks are not valid for
        # Connect enabled services" (1.9-1.11).
        check.require(not mesh, "health", "HealthCheck.tcp()",
                      "a service in the Consul mesh listens only inside its allocation, and Nomad refuses tcp checks "
                      "on Connect services: use HealthCheck.http(...) or HealthCheck.grpc(...)")
    if mode == "verify":
        check.require(spec.tls is not None, "health.tls", mode,
                      "'verify' checks the certificate the service gets from tls=...: add tls=Tls(...) or use "
                      "'skip-verify' for a certificate the service brings itself")
        check.require(spec.registration == "consul", "health.tls", mode,
                      "Nomad's own checks cannot verify against a private CA: register in Consul, or use 'skip-verify'")
    use_tls = mode in ("verify", "skip-verify")
    label = h.port or spec.port_label
    base = n.Check(
        name=f"{b.service_name}-{h.type}", type=h.type, port=label, path=h.path,
        protocol="https" if use_tls and h.type == "http" else None,
        tls_skip_verify=mode == "skip-verify", tls_server_name=b.common_name if mode == "verify" else None,
        grpc_service=h.grpc_service, grpc_use_tls=use_tls and h.type == "grpc",
        interval_s=h.interval_s, timeout_s=h.timeout_s,
        check_restart=n.CheckRestart(limit=h.restart_after, grace_s=h.grace_s))
    if not mesh:
        return (base,), (), ()
    # The app's own port for the checked label, inside the namespace.
    target = spec.port if label == spec.port_label else spec.extra_ports.get(label)
    check.require(isinstance(target, int), "health.port", h.port,
                  f"name the service's port label {spec.port_label!r} or one of extra_ports {sorted(spec.extra_ports)}")
    assert isinstance(target, int)
    if use_tls:
        port = str(target) if label == spec.port_label else label
        return (dataclasses.replace(base, port=port, address_mode="alloc"),), (), ()
    path = h.path if h.type == "http" else GRPC_HEALTH_PATH
    expose = n.ExposePath(path=path or "/", protocol="http" if h.type == "http" else "http2",
                          local_path_port=target, listener_port=HEALTH_LISTENER)
    check.require(HEALTH_LISTENER not in spec.extra_ports, "extra_ports", HEALTH_LISTENER,
                  f"the label {HEALTH_LISTENER!r} is the sidecar's health-check listener: name the port otherwise")
    return ((dataclasses.replace(base, port=HEALTH_LISTENER),), (expose,),
            (n.Port(label=HEALTH_LISTENER, to=n.SAME_AS_HOST),))


def _upstreams(b: _Build) -> tuple[n.ConsulUpstream, ...]:
    """The declared upstreams, checked, as the sidecar's upstreams."""
    spec, check = b.spec, b.check
    if not spec.upstreams:
        return ()
    check.require(spec.registration == "consul", "upstreams", [getattr(u, "service", u) for u in spec.upstreams],
                  "services call each other through Consul's service mesh: register in Consul "
                  "(registration='consul', the default) to declare upstreams")
    own = (spec.port, *spec.extra_ports.values())
    ports: dict[int, str] = {}
    names: list[str] = []
    for up in spec.upstreams:
        check.require(isinstance(up, Upstream), "upstreams", up, "declare Upstream('ledger', local_port=9091)")
        up.validate(check, own_ports=own)
        field_name = f"upstreams[{up.service}]"
        check.require(up.service != b.service_name, f"{field_name}.service", up.service,
                      "a service reaches itself directly, not through its sidecar; remove the upstream")
        check.require(up.service not in names, f"{field_name}.service", up.service, "declare each upstream once")
        # nomad/job_endpoint_hook_connect.go, groupConnectUpstreamsValidate: one listener per address.
        check.require(up.local_port not in ports, f"{field_name}.local_port", up.local_port,
                      f"already the local port of upstream {ports.get(up.local_port)!r}; give each its own")
        check.require(up.local_port not in _DYNAMIC_PORTS, f"{field_name}.local_port", up.local_port,
                      "Nomad's dynamic ports (20000-32000) are where the sidecar's own listeners bind inside the "
                      "allocation: pick a local port outside that range, e.g. 9091")
        names.append(up.service)
        ports[up.local_port] = up.service
    return tuple(n.ConsulUpstream(destination_name=up.service, local_bind_port=up.local_port)
                 for up in spec.upstreams)


def _ingress_host(b: _Build) -> None:
    """Checks ``ingress`` against the environment and notes its host (allowed on the certificate)."""
    ing, spec, env, check = b.spec.ingress, b.spec, b.env, b.check
    if ing is None:
        return
    check.require(isinstance(ing, Ingress), "ingress", ing, "use Ingress.https(host=...)")
    check.require(spec.registration == "consul", "ingress", ing.host,
                  "the ingress proxy reaches services through Consul's service mesh: register in Consul "
                  "(registration='consul', the default) to be reachable from outside")
    check.require(spec.job_type == "service", "ingress", ing.host, "only a service job can be an ingress target")
    settings = env.ingress
    if settings is None:
        check.fail("ingress", ing.host, f"environment {env.name!r} has no ingress tier (Environment.ingress is None): "
                   "give it IngressSettings(public_domain=..., certificate_arn=...) or drop ingress")
    domain = settings.public_domain
    host = ing.host
    under = isinstance(host, str) and is_dns_name(host) and "*" not in host and (
        host == domain or host.endswith(f".{domain}"))
    check.require(under, "ingress.host", host,
                  f"use a lowercase host name under the environment's public domain {domain!r}, "
                  f"e.g. '{b.service_name}.{domain}'")
    labels = host[: -len(domain) - 1].split(".") if host != domain else []
    # IngressSettings.certificate_arn is the certificate for *.<public_domain>: a wildcard covers
    # exactly one label.
    check.require(len(labels) <= 1, "ingress.host", host,
                  f"the load balancer's certificate is for *.{domain}, which covers one label below the domain: "
                  f"use e.g. '{labels[-1] if labels else b.service_name}.{domain}'")
    path = ing.path
    check.require(isinstance(path, str) and path.startswith("/") and not any(c.isspace() for c in path)
                  and not any(c in path for c in "?#*") and ".." not in path.split("/"),
                  "ingress.path", path, "use a path prefix starting with '/', e.g. '/' or '/api' (no query, "
                  "fragment, wildcard or '..')")
    check.require(isinstance(ing.tls, bool), "ingress.tls", ing.tls, "use Ingress.https(...) or Ingress.http(...)")
    check.require(ing.tls or env.tier is Tier.DEVELOPMENT, "ingress", f"Ingress.http(host={host!r})",
                  f"plain HTTP from users is for development only; {env.name!r} is a {env.tier.value} environment: "
                  "use Ingress.https(...)")
    pinned = ing.local_port
    check.require(pinned is None or (isinstance(pinned, int) and not isinstance(pinned, bool)
                                     and LOCAL_PORT_BASE <= pinned < LOCAL_PORT_CEILING), "ingress.local_port", pinned,
                  f"use a whole number in {LOCAL_PORT_BASE}-{LOCAL_PORT_CEILING - 1} (the proxy's loopback ports for "
                  "its upstreams), or leave it unset for the port derived from the service's name")
    b.ingress_host = host


def _ingress_route(b: _Build) -> IngressRoute | None:
    ing = b.spec.ingress
    if ing is None or b.ingress_host is None:
        return None
    backend_tls = b.spec.tls is not None
    server_name = None
    if backend_tls:
        server_name = ing.host if ing.host in b.cert_names else b.common_name
    return IngressRoute(service=b.service_name, host=ing.host, path=ing.path, https=ing.tls,
                        backend_tls=backend_tls, server_name=server_name, local_port=ing.local_port)


def _update(b: _Build, count: int) -> n.UpdateStrategy:
    """Rollout: prod defaults to an auto-promoted canary, elsewhere a rolling update; both auto-revert."""
    env, check = b.env, b.check
    system = b.spec.job_type == "system"
    upd = b.spec.update or (Update.canary(1) if env.is_production and not system else Update.rolling())
    if system:
        # Nomad 1.9 and 1.10 have no canaries for system jobs and 1.11 reads `canary` as a
        # percentage of nodes (scheduler/scheduler_system.go): a system job rolls node by node.
        check.require(upd.kind == "rolling", "update", f"Update.{upd.kind}(...)",
                      "a system job runs on every node and rolls node by node: use Update.rolling(max_parallel=...)")
    if upd.kind == "canary":
        check.require(isinstance(upd.canaries, int) and 1 <= upd.canaries <= max(count, 1), "update.canaries",
                      upd.canaries, f"use 1 to count ({count}) canaries, or Update.blue_green() for a full second set")
    if upd.kind != "rolling" and not upd.auto_promote and env.awaits_deployments:
        # With detach = false the provider waits for the deployment, and Nomad does not end a
        # deployment whose canaries wait for promotion (nomad/deploymentwatcher, 1.9-1.11).
        check.fail("update.auto_promote", upd.auto_promote,
                   f"terraform apply waits for each deployment in {env.name}, and a canary that waits for manual "
                   "promotion never ends it: use auto_promote=True (the default) or Update.rolling()")
    canary = count if upd.kind == "blue_green" else upd.canaries
    if system:  # max_parallel counts nodes
        check.require(isinstance(upd.max_parallel, int) and upd.max_parallel >= 1, "update.max_parallel",
                      upd.max_parallel, "use 1 or more nodes at a time")
        return n.UpdateStrategy(
            max_parallel=upd.max_parallel, canary=0, auto_promote=False, auto_revert=True,
            min_healthy_time_s=upd.min_healthy_time_s, healthy_deadline_s=upd.healthy_deadline_s,
            progress_deadline_s=upd.progress_deadline_s)
    if upd.kind != "blue_green" and upd.max_parallel > max(count, 1):
        check.fail("update.max_parallel", upd.max_parallel, f"use 1 to count ({count}) allocations at a time")
    return n.UpdateStrategy(
        max_parallel=count if upd.kind == "blue_green" else max(1, min(upd.max_parallel, max(count, 1))),
        canary=canary, auto_promote=upd.auto_promote and canary > 0, auto_revert=True,
        min_healthy_time_s=upd.min_healthy_time_s, healthy_deadline_s=upd.healthy_deadline_s,
        progress_deadline_s=upd.progress_deadline_s)


def _runtime_env(b: _Build) -> dict[str, str]:
    """Go-aware defaults (GOMAXPROCS from CPU, GOMEMLIMIT at 90% of the memory ceiling) unless set,
    then the user's env, each ``${...}`` checked against what Nomad resolves."""
    spec, check = b.spec, b.check
    for key in spec.env:
        b.declare_env(key, "env")
    ceiling = spec.memory_max_mib or spec.memory_mib
    task_env = {
        "GOMAXPROCS": str(max(1, math.ceil(spec.cpu_mhz / 1000))),
        "GOMEMLIMIT": f"{max(1, (ceiling * 9) // 10)}MiB",
    }
    task_env.update(spec.env)
    own = frozenset(b.env_vars) | frozenset(task_env)
    for key, value in sorted(spec.env.items()):
        check.require(isinstance(value, str), f"env[{key}]", value, "environment values are strings")
        unknown = unknown_interpolations(value, version=b.env.nomad.version)
        if unknown and unknown[0] in own:
            # client/taskenv/env.go, Builder.Build: task env values are interpolated against the
            # NOMAD_* and node variables while the task's own variables are copied in map order,
            # and template env vars only after: a reference to another of the task's variables
            # resolves sometimes or never.
            check.fail(f"env[{key}]", value,
                       f"${{{unknown[0]}}} is another variable of the task, which Nomad does not resolve reliably "
                       "(task variables are interpolated in no fixed order, template variables after them): "
                       "repeat the value, or have the program read both variables")
        check.require(not unknown, f"env[{key}]", value,
                      f"Nomad {b.env.nomad.version} does not resolve ${{{unknown[0] if unknown else ''}}} and would "
                      "pass it on literally: use a NOMAD_* variable, node.*, attr.* or meta.* "
                      "(client/taskenv/env.go)")
    return task_env


def plan_service(spec: ServiceSpec, env: Environment, *, where: str | None = None) -> ServicePlan:
    """Builds and validates the service's job, policy and roles for ``env``."""
    where = where or f"{env.name}/{spec.name}"
    check = Checker(where)
    check.require(is_rfc1123_label(spec.name), "name", spec.name, _label_fix(spec.name))
    service_name = spec.service_name or spec.name
    check.require(is_rfc1123_label(service_name), "service_name", service_name, _label_fix(service_name))
    _check_ports(spec, env, check)
    check.require(spec.job_type in ("service", "system"), "job_type", spec.job_type,
                  "use 'service' (count allocations) or 'system' (one allocation on every client)")
    system = spec.job_type == "system"
    if system:
        # nomad/structs/structs.go, Job.Validate: "Count cannot exceed 1 with system scheduler".
        check.require(spec.count is None, "count", spec.count,
                      "a system job runs one allocation on every eligible client: drop count")
    count = 1 if system else spec.count if spec.count is not None else (2 if env.is_production else 1)
    mesh = spec.registration == "consul"
    for name, value in (("sidecar_cpu_mhz", spec.sidecar_cpu_mhz), ("sidecar_memory_mib", spec.sidecar_memory_mib)):
        check.require(isinstance(value, int) and not isinstance(value, bool)
                      and value >= (10 if name == "sidecar_memory_mib" else 1), name, value,
                      "use a whole number: MHz above 0, MiB of at least 10")
    check.require(isinstance(spec.image, str) and (env.tier is Tier.DEVELOPMENT or (
        bool(_IMAGE_PINNED.search(spec.image.rsplit("/", 1)[-1])) and not spec.image.endswith(":latest"))),
        "image", spec.image,
        f"a {env.tier.value} environment deploys a pinned image: add a version tag or a digest "
        "(e.g. 'registry.example.com/team/app:1.4.2'), not ':latest'")
    ids = None
    if spec.user is not None:
        m = _USER.fullmatch(str(spec.user))
        if m is None:
            check.fail("user", spec.user,
                       "use the numeric 'uid:gid' the image runs as (e.g. '65532:65532' for distroless nonroot), so "
                       "rendered files can be owned by it")
        ids = (int(m.group(1)), int(m.group(2) or m.group(1)))
    if spec.reloads_on is not None:
        problem = n.signal_problem(spec.reloads_on, handled=True)
        check.require(problem is None, "reloads_on", spec.reloads_on, f"name the signal the program handles: {problem}")
    if spec.memory_max_mib is not None:
        check.require(env.nomad.memory_oversubscription, "memory_max_mib", spec.memory_max_mib,
                      f"Nomad ignores memory_max unless memory oversubscription is enabled in the scheduler "
                      f"configuration, which environment {env.name!r} does not declare: set "
                      "NomadSettings(memory_oversubscription=True) or drop memory_max_mib")
    vault = env.vault
    kv = vault.kv_mount

    b = _Build(spec=spec, env=env, check=check, service_name=service_name, ids=ids)
    _ingress_host(b)
    upstreams = _upstreams(b)
    _config_files(b)
    _secrets(b)
    _registry_auth(b)
    _mount_files(b)
    _tls(b)
    checks, expose, health_ports = _health(b, mesh)
    update = _update(b, count)
    task_env = _runtime_env(b)

    if mesh:
        # In the mesh the app's port is reached through its sidecar only: no host port maps to it,
        # unless a static host port is asked for (the ingress proxy's, on every client).
        check.require(not isinstance(spec.port, int) or spec.port not in _DYNAMIC_PORTS, "port", spec.port,
                      "inside the allocation, Nomad's dynamic ports (20000-32000) are where the sidecar's listeners "
                      "bind: let the app listen outside that range, e.g. 8080")
        ports = [n.Port(label=spec.port_label, to=spec.port, static=spec.static_port)] if spec.static_port else []
    else:
        ports = [n.Port(label=spec.port_label, to=spec.port, static=spec.static_port)]
    ports += [n.Port(label=label, to=p) for label, p in sorted(spec.extra_ports.items())]
    ports += health_ports
    tags = tuple(dict.fromkeys((*spec.tags, f"env-{env.name}")))
    connect = n.Connect(
        upstreams=upstreams, expose=expose,
        sidecar_task=n.SidecarTask(resources=n.Resources(cpu_mhz=spec.sidecar_cpu_mhz,
                                                         memory_mib=spec.sidecar_memory_mib)),
    ) if mesh else None
    service = n.Service(
        # In the mesh the service names the port the app listens on inside the allocation: the
        # sidecar connects to it on 127.0.0.1 (a label would resolve to a host port).
        name=service_name, port=str(spec.port) if mesh else spec.port_label, provider=spec.registration,
        tags=tags, canary_tags=(*tags, "canary") if not system else (), checks=checks,
        meta={"environment": env.name}, connect=connect)

    role = spec.name
    task = n.Task(
        name=spec.name,
        config=n.DockerConfig(image=spec.image, command=spec.command, args=spec.args,
                              # A bridge network maps the group's ports; docker's list would be ignored.
                              ports=() if mesh else tuple(p.label for p in ports), mounts=tuple(b.mounts),
                              auth=b.auth),
        resources=n.Resources(cpu_mhz=spec.cpu_mhz, memory_mib=spec.memory_mib, memory_max_mib=spec.memory_max_mib),
        env=task_env,
        templates=tuple(b.templates),
        vault=n.VaultBlock(role=role) if b.policy_rules else None,
        identities=(n.Identity(name="vault_default", audience=(VAULT_AUDIENCE,)),) if b.policy_rules else (),
        kill_signal=spec.kill_signal,
        kill_timeout_s=spec.kill_timeout_s,
        logs=n.LogConfig(max_files=spec.logs.max_files, max_file_size_mib=spec.logs.max_file_size_mib),
        user=spec.user,
    )
    group = n.TaskGroup(
        name=spec.name, count=count, tasks=(task,),
        network=n.Network(ports=tuple(ports), mode="bridge" if mesh else "host"),
        services=(service,), update=update, restart=spec.restart,
        spreads=(n.Spread(attribute=_AZ_ATTRIBUTE),) if spec.spread_across_azs and count > 1 and not system else (),
        shutdown_delay_s=spec.shutdown_delay_s,
    )
    job = n.Job(id=spec.name, groups=(group,), datacenters=(env.nomad.datacenter,), region=env.nomad.region,
                type=spec.job_type, meta={"environment": env.name, "managed-by": "hashistack"})
    if spec.customize is not None:
        job = _customized(spec.customize, job, check)
    job.validate(where=where, production=env.is_production, max_kill_timeout_s=env.nomad.client_max_kill_timeout_s)

    policy = jwt_role = None
    if b.policy_rules:
        policy = Policy(
            name=f"svc-{spec.name}",
            description=f"Service {spec.name} in {env.name}: exactly what its templates read. Generated by hashistack.",
            rules=tuple(b.policy_rules.values()),
            kv_mounts=(kv,), pki_mounts=(vault.pki_intermediate_mount, vault.pki_root_mount),
        ).lint(where=where)
        jwt_role = JwtRole(backend=vault.jwt_auth_path, name=role, policies=(policy.name,),
                           bound_claims={"nomad_namespace": job.namespace, "nomad_job_id": job.id}).lint(where=where)
    plan = ServicePlan(job=job, policy=policy, jwt_role=jwt_role, pki_role=b.pki_role,
                       apply_timeout_s=_apply_timeout_s(update) if env.awaits_deployments else None,
                       mesh=mesh, upstreams=tuple(spec.upstreams), ingress=_ingress_route(b))
    verify_grants(plan, where=where)
    return plan


def _identity(job: n.Job) -> dict[str, object]:
    """What ``customize`` may not change: who the job is and what it exposes, each derived from the
    spec and read by the access layer (JWT role bindings, mesh identities, intentions)."""
    return {
        "id": job.id, "namespace": job.namespace, "type": job.type, "region": job.region,
        "datacenters": job.datacenters,
        "groups": [g.name for g in job.groups],
        "networks": [g.network for g in job.groups],
        "services": [(s.name, s.provider, s.port, s.connect.upstreams if s.connect else None)
                     for g in job.groups for s in g.services],
        "tasks": [(g.name, t.name) for g in job.groups for t in g.tasks],
        "vault": [(t.vault, t.identities) for g in job.groups for t in g.tasks],
    }


def _customized(customize: Callable[[n.Job], n.Job], job: n.Job, check: Checker) -> n.Job:
    """The job ``customize`` returns, refused when it is not a job or changes the job's identity."""
    result = customize(job)
    check.require(isinstance(result, n.Job), "customize", type(result).__name__,
                  "return the job, changed (e.g. dataclasses.replace(job, priority=70)), not a copy of another type")
    before, after = _identity(job), _identity(result)
    for key in before:
        check.require(before[key] == after[key], "customize", f"changes the job's {key}",
                      f"the job's {key} follows from the spec, which the access layer reads too: set it with the "
                      "ServiceSpec's own props, not in customize")
    return result


def _reserved_ports() -> list[tuple[range, str]]:
    """The ports the platform holds on every node, from the cluster's port matrix (agents' ports
    and Nomad's dynamic range): a task's static host port must be none of them."""
    from ..cluster.ports import PORT_MATRIX  # the cluster's model, plain Python

    return [(range(spec.from_port, spec.to_port + 1), f"{spec.product}'s {spec.name} port") for spec in PORT_MATRIX]


def _check_ports(spec: ServiceSpec, env: Environment, check: Checker) -> None:
    """The service's ports: in range, each label and container port once, host ports clear of
    the platform's, and a health check that speaks the protocol its port's label names."""
    for name, value in (("port", spec.port), ("static_port", spec.static_port)):
        check.require(value is None or 1 <= value <= 65535, name, value,
                      "use a TCP port from 1 to 65535" + (" (the port the app listens on in its container)"
                                                           if name == "port" else ""))
    if spec.static_port is not None:
        for ports, owner in _reserved_ports():
            check.require(spec.static_port not in ports, "static_port", spec.static_port,
                          f"every client holds this port ({owner}): pick a host port outside the platform's ports, "
                          "or drop static_port and let Nomad choose")
        proxy = env.ingress.proxy_port if env.ingress is not None else None
        check.require(spec.static_port != proxy or spec.name == INGRESS_PROXY, "static_port", spec.static_port,
                      f"the ingress proxy listens on this port on every client (IngressSettings.proxy_port): pick "
                      "another host port, or publish the service with ingress=Ingress.https(...)")
    for label, value in sorted(spec.extra_ports.items()):
        check.require(label != spec.port_label, f"extra_ports[{label}]", value,
                      f"{label!r} is already the label of the service's port: give the extra port a label of its own")
        check.require(1 <= value <= 65535, f"extra_ports[{label}]", value, "use a TCP port from 1 to 65535")
        check.require(value != spec.port, f"extra_ports[{label}]", value,
                      f"{value} is the service's own port: an extra port would open it on the host beside the sidecar, "
                      "around the mesh's intentions; declare extra ports only for what else the app serves "
                      "(e.g. metrics on 9100)")
    h = spec.health
    if h is not None and h.type in ("http", "grpc"):
        label = h.port or spec.port_label
        other = {"http": "grpc", "grpc": "http"}[h.type]
        check.require(label.split("-")[0] not in (other, f"{other}s"),
                      "health", f"HealthCheck.{h.type}(...) on port {label!r}",
                      f"the port's label says it serves {other}: check it with HealthCheck.{other}(...), or name the "
                      f"port for what it serves (port_label={h.type!r})")


def _apply_timeout_s(update: n.UpdateStrategy) -> int:
    """How long ``terraform apply`` waits for a deployment: past Nomad's progress deadline (plus
    time to schedule and to start the auto-revert), so Nomad decides, not the provider's default
    5 minutes."""
    return int(math.ceil(update.progress_deadline_s)) + APPLY_TIMEOUT_MARGIN_S


def verify_grants(plan: ServicePlan, *, where: str) -> None:
    """Every Vault path the job's templates read is granted by the service's policy."""
    for path, capability in plan.template_reads():
        if plan.policy is None or not plan.policy.grants(path, capability):
            name = plan.policy.name if plan.policy else "(none)"
            raise HashistackError(
                f"{where}: template reads Vault path {path!r} ({capability}), but policy {name!r} "
                f"does not grant it: declare it with VaultSecret.kv(...)/kv_env(...) or Tls(...) instead of "
                "reading it from a config file")
