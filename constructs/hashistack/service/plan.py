"""What one Go service needs, worked out in plain Python: the Nomad job, its Vault policy, its
JWT role and its PKI role. :class:`~hashistack.service.GoService` only turns a
:class:`ServicePlan` into provider resources, so every rule here is tested without jsii.

:func:`plan_service` checks the spec's own props, asks each option for its contribution
(:mod:`hashistack.service.context`), folds them with the one merge that refuses collisions,
assembles the job once, applies ``customize``, validates the job against Nomad's rules, derives
the Vault policy from what the templates read and proves every read granted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterator

from .. import nomad as n
from .._types import check_types
from .._validate import RFC1123_HINT, is_rfc1123_label
from ..contracts import VAULT_AUDIENCE
from ..environment import Environment
from ..errors import Checker, HashistackError
from ..nomad.vault_calls import vault_calls
from ..vault.jwt import JwtRole
from ..vault.pki import PkiRole
from ..vault.policy import Policy
from ..consul.intentions import INGRESS_PROXY, Upstream
from . import mesh, network, runtime
from .context import Contribution, ServiceContext, merge
from .health import GRPC_HEALTH_PATH, HEALTH_LISTENER
from .ingress import LOCAL_PORT_BASE, LOCAL_PORT_CEILING, IngressRoute
from .rollout import Update
from .spec import ServiceSpec

__all__ = ["APPLY_TIMEOUT_MARGIN_S", "GRPC_HEALTH_PATH", "HEALTH_LISTENER", "IngressRoute", "LOCAL_PORT_BASE",
           "LOCAL_PORT_CEILING", "ServicePlan",
           "ServiceSpec", "plan_service"]

# Added to the progress deadline for the nomad_job create/update timeouts.
APPLY_TIMEOUT_MARGIN_S = 300

_AZ_ATTRIBUTE = "${attr.platform.aws.placement.availability-zone}"


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


_IMAGE_PINNED = re.compile(r"(@sha256:[0-9a-f]{64}|:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})\Z")
_USER = re.compile(r"^(\d+)(?::(\d+))?$")


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


def _contributions(ctx: ServiceContext) -> Iterator[tuple[str, Contribution]]:
    """Every option's contribution, with the prop it came from, in the order their errors are
    reported: the ingress route, the upstreams, config files, secrets, registry credentials, the
    certificate, the ports, the health check, the rollout, the runtime environment, then
    ``options`` as given."""
    spec = ctx.spec
    if spec.ingress is not None:
        yield "ingress", spec.ingress.contribute(ctx)
    yield "upstreams", mesh.upstreams(ctx)
    for cfg in spec.config_files:
        yield f"config_files[{cfg.name}]", cfg.contribute(ctx)
    for secret in spec.secrets:
        yield f"secrets[{secret.path}]", secret.contribute(ctx)
    if spec.registry_auth is not None:
        yield "registry_auth", spec.registry_auth.contribute(ctx)
    if spec.tls is not None:
        yield "tls", spec.tls.contribute(ctx)
    yield "port", network.ports(ctx)
    if spec.health is not None:
        yield "health", spec.health.contribute(ctx)
    yield "update", (spec.update or Update.default_for(ctx)).contribute(ctx)
    yield "env", runtime.runtime_env(ctx)
    for i, option in enumerate(spec.options):
        yield f"options[{i}]", _checked(option.contribute(ctx), option, i, ctx)


def _checked(contribution: object, option: object, i: int, ctx: ServiceContext) -> Contribution:
    """What an option of the user's own kind returned, held to the Contribution's own types, so
    a mistake in it is a message naming the option, not a traceback from the merge."""
    ctx.check.require(isinstance(contribution, Contribution), f"options[{i}]", type(option).__name__,
                      f"contribute() returned {type(contribution).__name__}, not a Contribution: return "
                      "Contribution(...) (hashistack.service.Contribution)")
    assert isinstance(contribution, Contribution)
    check_types(contribution, f"{ctx.check.where}: options[{i}] ({type(option).__name__}).contribute()",
                construct="Contribution")
    return contribution


def plan_service(spec: ServiceSpec, env: Environment, *, where: str | None = None) -> ServicePlan:
    """Builds and validates the service's job, policy and roles for ``env``."""
    where = where or f"{env.name}/{spec.name}"
    check = Checker(where)
    check.require(is_rfc1123_label(spec.name), "name", spec.name, _label_fix(spec.name))
    service_name = spec.service_name or spec.name
    check.require(is_rfc1123_label(service_name), "service_name", service_name, _label_fix(service_name))
    _check_ports(spec, env, check)
    system = spec.job_type == "system"
    if system:
        # nomad/structs/structs.go, Job.Validate: "Count cannot exceed 1 with system scheduler".
        check.require(spec.count is None, "count", spec.count,
                      "a system job runs one allocation on every eligible client: drop count")
    count = 1 if system else spec.count if spec.count is not None else env.tier.policy.default_count
    mesh_member = spec.registration == "consul"
    for name, value in (("sidecar_cpu_mhz", spec.sidecar_cpu_mhz), ("sidecar_memory_mib", spec.sidecar_memory_mib)):
        check.require(value >= (10 if name == "sidecar_memory_mib" else 1), name, value,
                      "use a whole number: MHz above 0, MiB of at least 10")
    image = spec.image
    if spec.release is not None:
        spec.release.check(f"{where}: release")
        image = spec.release.image(spec.image)
    check.require(not env.tier.policy.pinned_images or (
        bool(_IMAGE_PINNED.search(image.rsplit("/", 1)[-1])) and not image.endswith(":latest")),
        "image", image,
        f"a {env.tier.value} environment deploys a pinned image: add a version tag or a digest "
        "(e.g. 'registry.example.com/team/app:1.4.2'), not ':latest'")
    ids = None
    if spec.user is not None:
        m = _USER.fullmatch(spec.user)
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

    ctx = ServiceContext(spec=spec, env=env, check=check, service_name=service_name, ids=ids, mesh=mesh_member,
                         count=count)
    a = merge(_contributions(ctx), ctx)
    runtime.check_interpolations(ctx, a.env_sources, a.task_env)
    assert a.update is not None

    tags = tuple(dict.fromkeys((*spec.tags, f"env-{env.name}")))
    connect = n.Connect(
        upstreams=a.upstreams, expose=a.expose,
        sidecar_task=n.SidecarTask(resources=n.Resources(cpu_mhz=spec.sidecar_cpu_mhz,
                                                         memory_mib=spec.sidecar_memory_mib)),
    ) if mesh_member else None
    service = n.Service(
        # In the mesh the service names the port the app listens on inside the allocation: the
        # sidecar connects to it on 127.0.0.1 (a label would resolve to a host port).
        name=service_name, port=str(spec.port) if mesh_member else spec.port_label, provider=spec.registration,
        tags=tags, canary_tags=(*tags, "canary") if not system else (), checks=a.checks,
        meta={"environment": env.name}, connect=connect)

    role = spec.name
    task = n.Task(
        name=spec.name,
        config=n.DockerConfig(image=image, command=spec.command, args=spec.args,
                              # A bridge network maps the group's ports; docker's list would be ignored.
                              ports=() if mesh_member else tuple(p.label for p in a.ports), mounts=a.mounts,
                              auth=a.auth),
        resources=n.Resources(cpu_mhz=spec.cpu_mhz, memory_mib=spec.memory_mib, memory_max_mib=spec.memory_max_mib),
        env=dict(a.task_env),
        templates=a.templates,
        vault=n.VaultBlock(role=role) if a.rules else None,
        identities=(n.Identity(name="vault_default", audience=(VAULT_AUDIENCE,)),) if a.rules else (),
        kill_signal=spec.kill_signal,
        kill_timeout_s=spec.kill_timeout_s,
        logs=n.LogConfig(max_files=spec.logs.max_files, max_file_size_mib=spec.logs.max_file_size_mib),
        user=spec.user,
        volume_mounts=a.volume_mounts,
    )
    group = n.TaskGroup(
        name=spec.name, count=count, tasks=(task,),
        network=n.Network(ports=a.ports, mode="bridge" if mesh_member else "host"),
        services=(service,), update=a.update, restart=spec.restart,
        spreads=(n.Spread(attribute=_AZ_ATTRIBUTE),) if spec.spread_across_azs and count > 1 and not system else (),
        shutdown_delay_s=spec.shutdown_delay_s, volumes=a.volumes,
    )
    job = n.Job(id=spec.name, groups=(group,), datacenters=(env.nomad.datacenter,), region=env.nomad.region,
                type=spec.job_type,
                meta={"environment": env.name, "managed-by": "hashistack", **_release_meta(spec, image)})
    if spec.customize is not None:
        job = _customized(spec.customize, job, check)
    job.validate(where=where, rules=env.tier.policy.job, max_kill_timeout_s=env.nomad.client_max_kill_timeout_s)

    policy = jwt_role = None
    if a.rules:
        policy = Policy(
            name=f"svc-{spec.name}",
            description=f"Service {spec.name} in {env.name}: exactly what its templates read. Generated by hashistack.",
            rules=a.rules,
            kv_mounts=(vault.kv_mount,), pki_mounts=(vault.pki_intermediate_mount, vault.pki_root_mount),
        ).lint(where=where)
        jwt_role = JwtRole(backend=vault.jwt_auth_path, name=role, policies=(policy.name,),
                           bound_claims={"nomad_namespace": job.namespace, "nomad_job_id": job.id}).lint(where=where)
    plan = ServicePlan(job=job, policy=policy, jwt_role=jwt_role, pki_role=a.pki_role,
                       apply_timeout_s=_apply_timeout_s(a.update, count) if env.awaits_deployments else None,
                       mesh=mesh_member, upstreams=tuple(spec.upstreams),
                       ingress=spec.ingress.route(ctx) if spec.ingress is not None else None)
    verify_grants(plan, where=where)
    return plan


def _release_meta(spec: ServiceSpec, image: str) -> dict[str, str]:
    """What the job says it runs: the release's version and revision, else the image's tag or digest."""
    if spec.release is not None:
        return spec.release.meta
    m = _IMAGE_PINNED.search(image.rsplit("/", 1)[-1])
    return {"version": m.group(1).lstrip(":@")} if m else {}


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
        # what it takes from the node: the clients' host volumes (Volume options check them)
        "volumes": [(g.volumes, [t.volume_mounts for t in g.tasks]) for g in job.groups],
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


def rollout_steps(update: n.UpdateStrategy, count: int) -> int:
    """The steps of a rollout: ``max_parallel`` allocations at a time, plus the canaries' own step."""
    return math.ceil(max(count, 1) / max(update.max_parallel, 1)) + (1 if update.canary else 0)


def _apply_timeout_s(update: n.UpdateStrategy, count: int) -> int:
    """How long ``terraform apply`` waits for a deployment: its steps times Nomad's progress
    deadline (which Nomad restarts each time an allocation turns healthy,
    nomad/deploymentwatcher/deployment_watcher.go), plus time to schedule and to start the
    auto-revert, so Nomad decides a slow multi-step rollout, not Terraform's timeout."""
    return rollout_steps(update, count) * int(math.ceil(update.progress_deadline_s)) + APPLY_TIMEOUT_MARGIN_S


def verify_grants(plan: ServicePlan, *, where: str) -> None:
    """Every Vault path the job's templates read is granted by the service's policy."""
    for path, capability in plan.template_reads():
        if plan.policy is None or not plan.policy.grants(path, capability):
            name = plan.policy.name if plan.policy else "(none)"
            raise HashistackError(
                f"{where}: template reads Vault path {path!r} ({capability}), but policy {name!r} "
                f"does not grant it: declare it with VaultSecret.kv(...)/kv_env(...) or Tls(...) instead of "
                "reading it from a config file")
