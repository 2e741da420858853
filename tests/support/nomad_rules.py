"""Nomad's placement, as a test model: what a client fingerprints from its rendered configs, the
constraints Nomad's job hooks add, and the scheduler's constraint check. STAND-IN for the Nomad
binary, which cannot run here; every rule comes from Nomad's own source at v1.10.2 (tag commit
df4c764f6703e99e4df6f4d6c46c916d97ef8f84), named at the rule. It is never kinder than Nomad: an
attribute whose source the model cannot establish is absent, and an absent attribute fails every
constraint on it (scheduler/feasible.go ``checkConstraint`` needs both sides found).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

GRPC_PORT_CHANGE = (1, 14, 0)
"""client/fingerprint/consul.go ``consulGRPCPortChangeVersion``: from Consul 1.14 the TLS port
is read when Nomad reaches Consul over https."""
CONSUL_MIN = ">= 1.8.0"  # nomad/job_endpoint_hooks.go consulServiceDiscoveryConstraint
VAULT_MIN = ">= 0.6.1"  # nomad/job_endpoint_hooks.go vaultConstraint
CNI_MIN = ">= 0.4.0"  # nomad/job_endpoint_hooks.go cniMinVersion
BRIDGE_PLUGINS = ("bridge", "firewall", "host-local", "loopback", "portmap")  # jobImpliedConstraints, bridge mode


@dataclass
class Client:
    """One Nomad client as the scheduler sees it."""

    name: str
    datacenter: str
    region: str
    attributes: dict[str, str] = field(default_factory=dict)
    drivers: set[str] = field(default_factory=set)
    missing: dict[str, str] = field(default_factory=dict)
    """attribute family -> why the model could not fingerprint it (shown when a job cannot be placed)."""
    host_volumes: dict[str, bool] = field(default_factory=dict)
    """host volume name -> read-only, as the client offers it."""
    down: str | None = None
    """why the client agent does not run at all (it then places nothing)."""


# -- fingerprints ---------------------------------------------------------------------------------


def _version(text: str) -> tuple[tuple[int, ...], str]:
    m = re.fullmatch(r"v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?", text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    parts = tuple(int(p) for p in m.group(1).split("."))
    return parts + (0,) * (3 - len(parts)), m.group(2) or ""


def consul_attributes(client: Client, nomad_cfg: dict, consul_cfg: dict, *, consul_version: str,
                      agent_serves_tls: bool, token_may_read_agent: bool) -> None:
    """client/fingerprint/consul.go (``consulState.initialize``, ``grpc``): one ``GET
    /v1/agent/self`` at the agent's ``address``; ``Scheme`` is https only with ``ssl = true`` or
    an ``https://`` address (nomad/structs/config/consul.go ``ApiConfig``). A failed request sets
    no attribute. ``consul.grpc`` is ``DebugConfig.GRPCTLSPort`` over https and ``GRPCPort``
    otherwise (Consul >= 1.14), formatted as an integer even when -1.

    The request succeeds only if the local agent serves that scheme on that address (Consul
    agent/config/builder.go: a port <= 0 opens no listener), its certificate verifies with
    Nomad's ``ca_file`` (``agent_serves_tls``, decided by the caller from the node's files), and
    Nomad's Consul token has ``agent:read`` (Consul agent/agent_endpoint.go ``AgentSelf``)."""
    consul = (nomad_cfg.get("consul") or [{}])[0]
    address = str(consul.get("address", "127.0.0.1:8500"))
    https = bool(consul.get("ssl", False)) or address.startswith("https://")
    scheme = "https" if https else "http"
    host, _, port = address.removeprefix("https://").removeprefix("http://").rpartition(":")
    ports = (consul_cfg.get("ports") or [{}])[0]
    served = int(ports.get(scheme, 8500 if scheme == "http" else -1))
    binds = str((consul_cfg.get("addresses") or [{}])[0].get(scheme, consul_cfg.get("client_addr", "127.0.0.1")))
    if served <= 0 or int(port) != served or host not in binds.split():
        client.missing["consul"] = (f"Nomad asks {scheme}://{address}; the local Consul agent serves {scheme} on "
                                    f"{binds} port {served}")
        return
    if https and not agent_serves_tls:
        client.missing["consul"] = "the local Consul agent's certificate does not verify with Nomad's consul.ca_file"
        return
    if not token_may_read_agent:
        client.missing["consul"] = "Nomad's Consul token cannot read /v1/agent/self (agent:read) or is unknown to Consul"
        return
    core, _ = _version(consul_version)
    client.attributes["consul.version"] = consul_version
    if core < GRPC_PORT_CHANGE:
        grpc = int(ports.get("grpc", -1))
    else:
        grpc = int(ports.get("grpc_tls" if https else "grpc", -1))
    client.attributes["consul.grpc"] = str(grpc)


def vault_attributes(client: Client, nomad_cfg: dict, *, vault_version: str, reachable: bool) -> None:
    """client/fingerprint/vault.go ``fingerprintImpl``: only with ``vault { enabled = true }``;
    ``GET /v1/sys/seal-status`` at ``address``; on any error no attribute."""
    vault = (nomad_cfg.get("vault") or [{}])[0]
    if not vault.get("enabled"):
        client.missing["vault"] = "vault.enabled is not set in the client's config"
        return
    if not reachable:
        client.missing["vault"] = f"{vault.get('address')} is not reachable from the client"
        return
    client.attributes["vault.accessible"] = "true"
    client.attributes["vault.version"] = vault_version


def cni_attributes(client: Client, nomad_cfg: dict, plugins: dict[str, str]) -> None:
    """client/fingerprint/plugins_cni.go: every executable in ``client.cni_path`` (default
    ``/opt/cni/bin``) run without arguments; ``plugins.cni.version.<file>`` is the first token
    that parses as a version. ``plugins`` maps an executable's path to what it prints."""
    cni_path = str((nomad_cfg.get("client") or [{}])[0].get("cni_path", "/opt/cni/bin"))
    found = {path.rsplit("/", 1)[1]: out for path, out in plugins.items() if path.rsplit("/", 1)[0] == cni_path}
    if not found:
        client.missing["cni"] = f"no CNI plugin in {cni_path}"
    for name, out in found.items():
        for token in out.split():
            try:
                _version(token)
            except ValueError:
                continue
            client.attributes[f"plugins.cni.version.{name}"] = token
            break


def docker_driver(client: Client, nomad_cfg: dict, *, docker_running: bool) -> None:
    """drivers/docker/fingerprint.go ``buildFingerprint``: detected when the daemon answers; the
    agent's ``client.options["driver.allowlist"]`` (client/config ``ReadStringListToMap``) keeps
    only the drivers it names."""
    options = (nomad_cfg.get("client") or [{}])[0].get("options") or {}
    allow = [d.strip() for d in str(options.get("driver.allowlist", "")).split(",") if d.strip()]
    if allow and "docker" not in allow:
        client.missing["driver.docker"] = "docker is not in driver.allowlist"
    elif not docker_running:
        client.missing["driver.docker"] = "the docker daemon does not run"
    else:
        client.drivers.add("docker")
        client.attributes["driver.docker"] = "1"


def host_volumes(client: Client, nomad_cfg: dict, directories: set[str]) -> None:
    """command/agent/agent.go ``convertClientConfig`` (v1.10.2): each ``client { host_volume }``
    block becomes ``Node.HostVolumes[name]`` with its ``read_only``; client/client.go
    ``setupNode`` stats every path first, and one missing path fails the client's start ("node
    setup failed: failed to validate volume"): the client then places nothing."""
    for block in (nomad_cfg.get("client") or [{}])[0].get("host_volume") or []:
        for name, body in block.items():
            path = str(body.get("path", ""))
            if path not in directories:
                client.down = f"node setup failed: failed to validate volume {name}: stat {path}: no such file"
                client.host_volumes.clear()
                return
            client.host_volumes[name] = bool(body.get("read_only", False))


def volume_problems(group: dict, client: Client) -> list[str]:
    """scheduler/feasible.go ``HostVolumeChecker.hasVolumes`` (v1.10.2), static volumes: each
    host volume the group requests is one the node offers, and a read-write request needs a
    volume the node does not offer read-only."""
    problems = []
    for name, req in sorted((group.get("Volumes") or {}).items()):
        if req.get("Type") != "host":
            continue
        source = str(req.get("Source", ""))
        if source not in client.host_volumes:
            problems.append(f"host volume {source!r} (volume {name}) is not offered")
        elif not req.get("ReadOnly") and client.host_volumes[source]:
            problems.append(f"host volume {source!r} is offered read-only and volume {name} mounts it read-write")
    return problems


# -- the constraints a job meets ------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    ltarget: str
    rtarget: str
    operand: str
    origin: str


def _user(c: dict, origin: str) -> Constraint:
    return Constraint(str(c.get("LTarget", "")), str(c.get("RTarget", "")), str(c.get("Operand") or "="), origin)


def group_constraints(job: dict, group: dict) -> list[Constraint]:
    """The constraints one task group must meet on a client: the job's, the group's and its
    tasks' own, plus what Nomad's admission hooks add (nomad/job_endpoint.go runs
    ``jobConnectHook`` then ``jobImpliedConstraints``):

    - a Connect sidecar (nomad/job_endpoint_hook_connect.go ``newConnectSidecarTask``):
      ``${attr.consul.version} semver >= 1.8.0`` and ``${attr.consul.grpc} > 0``;
    - Consul services (nomad/job_endpoint_hooks.go ``consulConstraintFn``): the same version;
    - a task with ``vault`` (``vaultConstraint``): ``${attr.vault.version} semver >= 0.6.1``;
    - bridge networking: ``${attr.plugins.cni.version.<p>} semver >= 0.4.0`` for the five plugins
      of Nomad's bridge conflist.

    An implied constraint is skipped when a user constraint has the same LTarget
    (``constraintMatcherLeft``)."""
    own = [_user(c, "job") for c in job.get("Constraints") or []]
    own += [_user(c, f"group {group['Name']}") for c in group.get("Constraints") or []]
    tasks = group.get("Tasks") or []
    for task in tasks:
        own += [_user(c, f"task {task['Name']}") for c in task.get("Constraints") or []]
    implied: list[Constraint] = []
    services = list(group.get("Services") or []) + [s for t in tasks for s in t.get("Services") or []]
    if any((s.get("Provider") or "consul") == "consul" for s in services):
        implied.append(Constraint("${attr.consul.version}", CONSUL_MIN, "semver", "Consul services"))
    if any((s.get("Connect") or {}).get("SidecarService") is not None for s in services):
        implied += [Constraint("${attr.consul.version}", CONSUL_MIN, "semver", "Connect sidecar"),
                    Constraint("${attr.consul.grpc}", "0", ">", "Connect sidecar")]
    if any(t.get("Vault") for t in tasks):
        implied.append(Constraint("${attr.vault.version}", VAULT_MIN, "semver", "Vault"))
    if any(n.get("Mode") == "bridge" for n in group.get("Networks") or []):
        implied += [Constraint(f"${{attr.plugins.cni.version.{p}}}", CNI_MIN, "semver", "bridge networking")
                    for p in BRIDGE_PLUGINS]
    lefts = {c.ltarget for c in own}
    return own + [c for c in implied if c.ltarget not in lefts]


def _resolve(target: str, client: Client) -> tuple[str | None, bool]:
    m = re.fullmatch(r"\$\{(attr|node|meta)\.([^}]+)\}", target)
    if not m:
        return target, True  # a literal
    kind, name = m.groups()
    if kind == "attr":
        value = client.attributes.get(name)
    elif kind == "node":
        value = {"datacenter": client.datacenter, "region": client.region, "unique.name": client.name}.get(name)
    else:
        value = None
    return value, value is not None


def _semver(value: str, constraint: str) -> bool:
    have, pre = _version(value)
    for part in constraint.split(","):
        m = re.fullmatch(r"\s*(>=|<=|!=|>|<|=|~>)?\s*(\S+)\s*", part)
        if not m:
            raise ValueError(f"unsupported version constraint {constraint!r}")
        op, want = m.group(1) or "=", _version(m.group(2))[0]
        ok = {">=": have >= want, "<=": have <= want, ">": have > want, "<": have < want, "=": have == want,
              "!=": have != want}.get(op)
        if ok is None:
            raise ValueError(f"unsupported version operator {op!r} in {constraint!r}")
        if pre and have == want and op in (">=", "="):
            ok = False  # a pre-release sorts before its release
        if not ok:
            return False
    return True


def satisfied(c: Constraint, client: Client) -> bool:
    """scheduler/feasible.go ``checkConstraint`` for the operands these jobs use; any other
    operand is an error, not a pass."""
    if c.operand in ("distinct_hosts", "distinct_property"):
        return True  # spread over clients, checked by the count below
    left, lfound = _resolve(c.ltarget, client)
    right, rfound = _resolve(c.rtarget, client)
    if c.operand == "is_set":
        return lfound
    if c.operand == "is_not_set":
        return not lfound
    if not (lfound and rfound):
        return False
    assert left is not None and right is not None
    if c.operand in ("=", "==", "is"):
        return left == right
    if c.operand in ("!=", "not"):
        return left != right
    if c.operand in ("<", "<=", ">", ">="):  # checkOrder: integers first, then floats, then strings
        a: object
        b: object
        try:
            a, b = int(left), int(right)
        except ValueError:
            try:
                a, b = float(left), float(right)
            except ValueError:
                a, b = left, right
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[c.operand]  # type: ignore[operator]
    if c.operand in ("semver", "version"):
        return _semver(left, right)
    if c.operand == "regexp":
        return re.search(right, left) is not None
    if c.operand == "set_contains":
        return set(x.strip() for x in right.split(",")) <= set(x.strip() for x in left.split(","))
    raise ValueError(f"constraint operand {c.operand!r} ({c.origin}) is not modelled")


@dataclass(frozen=True)
class Placement:
    group: str
    wanted: int
    feasible: int
    reasons: tuple[str, ...]


def placements(job: dict, clients: list[Client]) -> list[Placement]:
    """For each task group: how many clients are feasible, and why the others are not. The
    scheduler first keeps clients in the job's region and datacenters (glob patterns,
    scheduler/util.go ``readyNodesInDCs``) with every task's driver (``DriverChecker``)."""
    out = []
    system = job.get("Type") in ("system", "sysbatch")
    for group in job.get("TaskGroups") or []:
        feasible, reasons = 0, []
        constraints = group_constraints(job, group)
        drivers = {t.get("Driver") for t in group.get("Tasks") or []}
        for client in clients:
            why = []
            if job.get("Region", "global") != client.region:
                why.append(f"region {client.region} is not the job's {job.get('Region')}")
            if not any(fnmatch.fnmatchcase(client.datacenter, dc) for dc in job.get("Datacenters") or ["*"]):
                why.append(f"datacenter {client.datacenter} is not in {job.get('Datacenters')}")
            if client.down:
                reasons.append(f"{client.name}: the agent does not run ({client.down})")
                continue
            why += volume_problems(group, client)
            for d in sorted(drivers - client.drivers):
                why.append(f"driver {d} not detected ({client.missing.get(f'driver.{d}', 'not fingerprinted')})")
            for c in constraints:
                if not satisfied(c, client):
                    have = _resolve(c.ltarget, client)[0]
                    family = c.ltarget.removeprefix("${attr.").split(".")[0]
                    hint = client.missing.get(family) or client.missing.get(
                        "cni" if c.ltarget.startswith("${attr.plugins.cni") else family, "")
                    why.append(f"{c.ltarget} {c.operand} {c.rtarget} ({c.origin}) fails: "
                               f"{'absent' if have is None else repr(have)}" + (f"; {hint}" if hint else ""))
            if why:
                reasons.append(f"{client.name}: " + "; ".join(why))
            else:
                feasible += 1
        wanted = max(1, feasible) if system else int(group.get("Count", 1))
        out.append(Placement(group=group["Name"], wanted=wanted, feasible=feasible, reasons=tuple(reasons)))
    return out
