"""What one Go service needs, worked out in plain Python: the Nomad job, its Vault policy, its
JWT role and its PKI role. :class:`~hashistack.service.GoService` only turns a
:class:`ServicePlan` into provider resources, so every rule here is tested without jsii.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

from .. import nomad as n
from .._validate import RFC1123_HINT, is_dns_name, is_rfc1123_label
from ..environment import Environment
from ..errors import Checker, HashistackError
from ..vault.jwt import WORKLOAD_AUDIENCE, JwtRole
from ..vault.pki import PkiRole
from ..vault.policy import Policy, Rule
from .options import ConfigFile, HealthCheck, Logs, OnChange, RegistryAuth, Tls, Update, VaultSecret

__all__ = ["ServicePlan", "ServiceSpec", "plan_service"]

_AZ_ATTRIBUTE = "${attr.platform.aws.placement.availability-zone}"
_TEMPLATE_READ = re.compile(r'\b(secret|pkiCert)\s+"([^"]+)"')


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """Everything a user says about one Go service (see GoService for each field's default)."""

    name: str
    image: str
    port: int = 8080
    port_label: str = "http"
    static_port: int | None = None
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    count: int | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    registry_auth: RegistryAuth | None = None
    config_files: tuple[ConfigFile, ...] = ()
    secrets: tuple[VaultSecret, ...] = ()
    tls: Tls | None = None
    health: HealthCheck | None = None
    update: Update | None = None
    cpu_mhz: int = 500
    memory_mib: int = 256
    memory_max_mib: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    service_name: str | None = None
    tags: tuple[str, ...] = ()
    registration: Literal["consul", "nomad"] = "consul"
    logs: Logs = field(default_factory=Logs)
    kill_signal: str = "SIGTERM"
    kill_timeout_s: float = 30
    shutdown_delay_s: float = 5
    restart: n.RestartPolicy = field(default_factory=n.RestartPolicy)
    spread_across_azs: bool = True


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

    return __init__


ServiceSpec.__init__ = _checked_init(ServiceSpec.__init__)  # type: ignore[method-assign]


@dataclass(frozen=True, kw_only=True)
class ServicePlan:
    """The job, policy and roles of one service in one environment, already validated."""

    job: n.Job
    policy: Policy | None
    jwt_role: JwtRole | None
    pki_role: PkiRole | None

    @property
    def jobspec(self) -> str:
        return n.render_job(self.job)

    def template_reads(self) -> list[tuple[str, str]]:
        """Every (Vault path, capability) the job's templates use, found in the rendered templates."""
        reads = []
        for group in self.job.groups:
            for task in group.tasks:
                for template in task.templates:
                    for func, path in _TEMPLATE_READ.findall(template.data):
                        reads.append((path, "update" if func == "pkiCert" else "read"))
        return sorted(set(reads))


def _mode(on_change: OnChange) -> dict:
    return {"change_mode": on_change.mode, "change_signal": on_change.change_signal}


def _quote(text: str) -> str:
    return json.dumps(text)


def plan_service(spec: ServiceSpec, env: Environment, *, where: str | None = None) -> ServicePlan:
    """Builds and validates the service's job, policy and roles for ``env``."""
    where = where or f"{env.name}/{spec.name}"
    check = Checker(where)
    check.require(is_rfc1123_label(spec.name), "name", spec.name, RFC1123_HINT)
    service_name = spec.service_name or spec.name
    check.require(is_rfc1123_label(service_name), "service_name", service_name, RFC1123_HINT)
    count = spec.count if spec.count is not None else (2 if env.is_production else 1)
    vault = env.vault
    kv = vault.kv_mount

    templates: list[n.Template] = []
    mounts: list[n.Mount] = []
    task_env: dict[str, str] = {}
    policy_rules: dict[str, Rule] = {}

    def grant(path: str, capability: str, why: str) -> None:
        if path not in policy_rules:
            policy_rules[path] = Rule(path=path, capabilities=(capability,), comment=why)

    # Config files: the ConfigMap equivalent.
    for cfg in spec.config_files:
        check.require(cfg.mount_at.startswith("/"), f"config_files[{cfg.name}].mount_at", cfg.mount_at,
                      "use the absolute container path the app reads, e.g. '/app/config/app.conf'")
        source = f"local/config/{cfg.name}"
        templates.append(n.Template(destination=source, data=cfg.content, perms="0644", **_mode(cfg.on_change)))
        mounts.append(n.Mount(source=source, target=cfg.mount_at))

    # Secrets: the Secret equivalent.
    for secret in spec.secrets:
        secret._validate(where)
        path = f"{kv}/data/{env.name}/{secret.path}"
        grant(path, "read", f"secret {secret.path}")
        stem = secret.path.replace("/", "-")
        if secret.mount_at is not None:
            check.require(secret.mount_at.startswith("/"), f"secrets[{secret.path}].mount_at", secret.mount_at,
                          "use the absolute container path the app reads, e.g. '/app/config/secrets.json'")
            body = secret.template if secret.template is not None else "{{ .Data.data | toJSON }}"
            dest = f"secrets/{stem}.{'json' if secret.template is None else 'txt'}"
            templates.append(n.Template(destination=dest, perms="0400", sensitive=True,
                                        data=f"{{{{ with secret {_quote(path)} }}}}{body}{{{{ end }}}}\n",
                                        **_mode(secret.on_change)))
            mounts.append(n.Mount(source=dest, target=secret.mount_at))
        if secret.env:
            lines = "".join(f"{var}={{{{ .Data.data.{key} | toJSON }}}}\n" for var, key in secret.env)
            templates.append(n.Template(destination=f"secrets/{stem}.env", perms="0400", sensitive=True, env=True,
                                        data=f"{{{{ with secret {_quote(path)} }}}}\n{lines}{{{{ end }}}}\n",
                                        **_mode(secret.on_change)))

    # Private registry credentials, from Vault into env vars the docker auth block interpolates.
    auth = None
    if spec.registry_auth:
        ra = spec.registry_auth
        path = f"{kv}/data/{env.name}/{ra.path}"
        grant(path, "read", "private registry credentials")
        templates.append(n.Template(
            destination="secrets/registry.env", perms="0400", sensitive=True, env=True, change_mode="noop",
            data=(f"{{{{ with secret {_quote(path)} }}}}\n"
                  f"REGISTRY_USERNAME={{{{ .Data.data.{ra.username_key} | toJSON }}}}\n"
                  f"REGISTRY_PASSWORD={{{{ .Data.data.{ra.password_key} | toJSON }}}}\n{{{{ end }}}}\n")))
        auth = n.DockerAuth(username="${REGISTRY_USERNAME}", password="${REGISTRY_PASSWORD}")

    # TLS from the PKI intermediate: one pkiCert issuance, one bundle.
    pki_role = None
    common_name = None
    if spec.tls:
        tls = spec.tls
        common_name = tls.common_name or f"{service_name}.service.consul"
        names = (common_name, *tls.alt_names)
        for name in names:
            check.require(is_dns_name(name) and "*" not in name, "tls.common_name/alt_names", name,
                          "use lowercase DNS names; wildcard certificates are not issued")
        check.require(len(set(names)) == len(names), "tls.alt_names", tls.alt_names, "list each name once")
        leaf_max = vault.pki_leaf_max_ttl_h
        check.require(isinstance(tls.ttl_h, int) and 1 <= tls.ttl_h <= leaf_max, "tls.ttl_h", tls.ttl_h,
                      f"use 1 to {leaf_max} hours (the environment's pki_leaf_max_ttl_h); short-lived certificates "
                      "are re-issued automatically")
        check.require(tls.mount_dir.startswith("/"), "tls.mount_dir", tls.mount_dir,
                      "use an absolute container directory, e.g. '/app/tls'")
        issue = f"{vault.pki_intermediate_mount}/issue/{spec.name}"
        grant(issue, "update", "TLS certificate for the service")
        args = [f"common_name={common_name}", f"ttl={tls.ttl_h}h"]
        if tls.alt_names:
            args.append("alt_names=" + ",".join(tls.alt_names))
        call = " ".join(_quote(a) for a in (issue, *args))
        templates.append(n.Template(
            destination=f"secrets/tls/{tls.bundle_name}", perms="0400", sensitive=True,
            data=(f"{{{{ with pkiCert {call} }}}}\n{{{{ .Key }}}}\n{{{{ .Cert }}}}\n{{{{ .CA }}}}\n{{{{ end }}}}\n"),
            **_mode(tls.on_change)))
        mounts.append(n.Mount(source="secrets/tls", target=tls.mount_dir))
        pki_role = PkiRole(mount=vault.pki_intermediate_mount, name=spec.name, allowed_domains=names,
                           max_ttl_h=tls.ttl_h).lint(vault.pki, where=where)

    # Ports and health.
    ports = [n.Port(label=spec.port_label, to=spec.port, static=spec.static_port)]
    ports += [n.Port(label=label, to=p) for label, p in sorted(spec.extra_ports.items())]
    checks: tuple[n.Check, ...] = ()
    if spec.health:
        h = spec.health
        # With TLS the check speaks TLS to the service; it proves liveness, not identity, so it
        # does not need to trust the service's private CA.
        tls_check = spec.tls is not None and h.type in ("http", "grpc")
        checks = (n.Check(
            name=f"{service_name}-{h.type}", type=h.type, port=h.port or spec.port_label, path=h.path,
            protocol="https" if tls_check and h.type == "http" else None, tls_skip_verify=tls_check,
            grpc_service=h.grpc_service, grpc_use_tls=tls_check and h.type == "grpc",
            interval_s=h.interval_s, timeout_s=h.timeout_s,
            check_restart=n.CheckRestart(limit=h.restart_after, grace_s=h.grace_s)),)
    service = n.Service(
        name=service_name, port=spec.port_label, provider=spec.registration,
        tags=tuple(dict.fromkeys((*spec.tags, f"env-{env.name}"))), canary_tags=("canary",), checks=checks,
        meta={"environment": env.name})

    # Rollout: prod defaults to a canary, elsewhere a rolling update; both auto-revert.
    upd = spec.update or (Update.canary(1) if env.is_production else Update.rolling())
    canary = count if upd.kind == "blue_green" else upd.canaries
    update = n.UpdateStrategy(
        max_parallel=count if upd.kind == "blue_green" else max(1, min(upd.max_parallel, max(count, 1))),
        canary=canary, auto_promote=upd.auto_promote, auto_revert=True,
        min_healthy_time_s=upd.min_healthy_time_s, healthy_deadline_s=upd.healthy_deadline_s,
        progress_deadline_s=upd.progress_deadline_s)
    if upd.kind != "blue_green" and upd.max_parallel > max(count, 1):
        check.fail("update.max_parallel", upd.max_parallel, f"use 1 to count ({count}) allocations at a time")

    # Go-aware defaults, unless set.
    go_env = {
        "GOMAXPROCS": str(max(1, math.ceil(spec.cpu_mhz / 1000))),
        "GOMEMLIMIT": f"{max(1, (spec.memory_mib * 9) // 10)}MiB",
    }
    task_env.update(go_env)
    task_env.update(spec.env)

    role = spec.name
    task = n.Task(
        name=spec.name,
        config=n.DockerConfig(image=spec.image, command=spec.command, args=spec.args,
                              ports=tuple(p.label for p in ports), mounts=tuple(mounts), auth=auth),
        resources=n.Resources(cpu_mhz=spec.cpu_mhz, memory_mib=spec.memory_mib, memory_max_mib=spec.memory_max_mib),
        env=task_env,
        templates=tuple(templates),
        vault=n.VaultBlock(role=role) if policy_rules else None,
        identities=(n.Identity(name="vault_default", audience=(WORKLOAD_AUDIENCE,)),) if policy_rules else (),
        kill_signal=spec.kill_signal,
        kill_timeout_s=spec.kill_timeout_s,
        logs=n.LogConfig(max_files=spec.logs.max_files, max_file_size_mib=spec.logs.max_file_size_mib),
    )
    group = n.TaskGroup(
        name=spec.name, count=count, tasks=(task,), network=n.Network(ports=tuple(ports)),
        services=(service,), update=update, restart=spec.restart,
        spreads=(n.Spread(attribute=_AZ_ATTRIBUTE),) if spec.spread_across_azs and count > 1 else (),
        shutdown_delay_s=spec.shutdown_delay_s,
    )
    job = n.Job(id=spec.name, groups=(group,), datacenters=(env.nomad.datacenter,), region=env.nomad.region,
                meta={"environment": env.name, "managed-by": "hashistack"})
    job.validate(where=where, production=env.is_production)

    policy = jwt_role = None
    if policy_rules:
        policy = Policy(
            name=f"svc-{spec.name}",
            description=f"Service {spec.name} in {env.name}: exactly what its templates read. Generated by hashistack.",
            rules=tuple(policy_rules.values()),
            kv_mounts=(kv,), pki_mounts=(vault.pki_intermediate_mount, vault.pki_root_mount),
        ).lint(where=where)
        jwt_role = JwtRole(backend=vault.jwt_auth_path, name=role, policies=(policy.name,),
                           bound_claims={"nomad_namespace": job.namespace, "nomad_job_id": job.id}).lint(where=where)
    plan = ServicePlan(job=job, policy=policy, jwt_role=jwt_role, pki_role=pki_role)
    verify_grants(plan, where=where)
    return plan


def verify_grants(plan: ServicePlan, *, where: str) -> None:
    """Every Vault path the job's templates read is granted by the service's policy."""
    for path, capability in plan.template_reads():
        if plan.policy is None or not plan.policy.grants(path, capability):
            name = plan.policy.name if plan.policy else "(none)"
            raise HashistackError(
                f"{where}: template reads Vault path {path!r} ({capability}), but policy {name!r} "
                f"does not grant it: declare it with VaultSecret.kv(...)/kv_env(...) or Tls(...) instead of "
                "reading it from a config file")
