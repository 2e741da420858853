"""A Nomad job model that renders canonical Nomad API JSON (the form ``nomad_job`` takes with
``json = true``) and validates itself.

Plain Python, no jsii: intent is stored in frozen dataclasses; :func:`render_job` turns a job
into ``{"Job": {...}}`` with sorted keys, durations as integer nanoseconds and empty lists and
maps omitted (an empty list where Nomad expects none causes spurious job versions).
Durations are seconds in fields named ``*_s``. The API field names are written in the
``_api`` methods below and checked against :mod:`hashistack.nomad.api_fields` by the tests.

Validation (:meth:`Job.validate`) raises :class:`~hashistack.errors.HashistackError` naming the
job, group and task, the field, the value and the fix. Rules that Nomad itself enforces name the
Nomad source they come from; they were read in the releases v1.9.7, v1.10.5 and v1.11.3 and are
the same in the three unless a comment says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, Mapping

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker
from ._base import _is_int, ns, _prune, TASK_DIRS
from .network import Network
from .placement import Constraint, Spread
from .rollout import RestartPolicy, UpdateStrategy
from .rules import JobRules
from .services import Service
from .task import Task
from .volumes import HostVolume

__all__ = ["Job", "TaskGroup", "render_job"]

@dataclass(frozen=True, kw_only=True)
class TaskGroup:
    """Allocations scheduled together: ``count`` copies of its tasks, its network and services."""

    name: str
    tasks: tuple[Task, ...]
    count: int = 1
    network: Network = field(default_factory=Network)
    services: tuple[Service, ...] = ()
    update: UpdateStrategy | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    spreads: tuple[Spread, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    shutdown_delay_s: float | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[HostVolume, ...] = ()

    def _api(self) -> dict:
        return {
            "Name": self.name,
            "Count": self.count,
            "Volumes": {v.name: v._api() for v in self.volumes},
            # A bridge network is rendered even without ports: Connect needs exactly one network.
            "Networks": [self.network._api()] if self.network.ports or self.network.mode != "host" else [],
            "Services": [s._api() for s in self.services],
            "Tasks": [t._api() for t in self.tasks],
            "Update": self.update._api() if self.update else None,
            "RestartPolicy": self.restart._api(),
            "Spreads": [s._api() for s in self.spreads],
            "Constraints": [c._api() for c in self.constraints],
            "ShutdownDelay": ns(self.shutdown_delay_s),
            "Meta": dict(sorted(self.meta.items())),
        }

    def _validate(self, check: Checker, rules: JobRules, max_kill_timeout_s: float = 30,
                  job_type: str = "service") -> None:
        system = job_type == "system"
        check.require(is_rfc1123_label(self.name), "name", self.name, RFC1123_HINT)
        check.require(_is_int(self.count) and self.count >= 0, "count", self.count, "use 0 or more allocations")
        if system:
            # nomad/structs/structs.go, Job.Validate: "Count cannot exceed 1 with system scheduler"
            # (one allocation per eligible node).
            check.require(self.count <= 1, "count", self.count,
                          "a system job runs one allocation on every eligible node: use count 1")
        else:
            check.require(self.count >= rules.min_count, "count", self.count,
                          f"{rules.tier} runs at least {rules.min_count} allocations so one can fail or roll without "
                          "an outage")
        labels = self.network.labels
        self.network._validate(check, self.count, job_type)
        check.require(bool(self.tasks), "tasks", [], "a group needs at least one task")
        names = [t.name for t in self.tasks]
        for t in self.tasks:
            check.require(names.count(t.name) == 1, "task", t.name, "give each task of a group its own name")
            task_check = Checker(f"{check.where} > task {t.name!r}".replace("'", '"'))
            t._validate(task_check, labels, max_kill_timeout_s)
            if self.network.mode == "bridge":
                # drivers/docker/driver.go, createContainerConfig: "Do not set up docker port
                # mapping if shared alloc networking is used": the list would be ignored.
                task_check.require(not t.config.ports, "config.ports", list(t.config.ports),
                                   "in a bridge network the group maps its ports and docker's ports list is "
                                   "ignored: drop it")
            self._validate_volume_mounts(task_check, t)
            # nomad/structs/structs.go, Task.Validate: "KillTimout (...) longer than the group's
            # ProgressDeadline" for service jobs.
            if self.update and self.update.progress_deadline_s:
                task_check.require(t.kill_timeout_s <= self.update.progress_deadline_s, "kill_timeout_s",
                                   t.kill_timeout_s, f"use at most the group's progress_deadline_s "
                                   f"({self.update.progress_deadline_s:g}s)")
        volume_names = [v.name for v in self.volumes]
        for v in self.volumes:
            v._validate(check.child(f"volume[{v.name}]"))
            check.require(volume_names.count(v.name) == 1, "volume", v.name, "give each volume of a group its own name")
        service_names = [s.name for s in self.services]
        listeners: dict[int, str] = {}
        for s in self.services:
            check.require(service_names.count(s.name) == 1, "service", s.name, "register each service name once")
            s._validate(check.child(f"service[{s.name}]"), labels, self.network.mode)
            if rules.checks_required:
                check.require(bool(s.checks), f"service[{s.name}].checks", [],
                              f"{rules.tier} services need a health check (HealthCheck.http/.tcp/.grpc)")
            for up in s.connect.upstreams if s.connect else ():
                # nomad/job_endpoint_hook_connect.go, groupConnectUpstreamsValidate: "Consul Connect
                # services %q and %q in group %q using same address for upstreams".
                other = listeners.setdefault(up.local_bind_port, f"{s.name} -> {up.destination_name}")
                check.require(other == f"{s.name} -> {up.destination_name}",
                              f"service[{s.name}].connect.upstream[{up.destination_name}].local_bind_port",
                              up.local_bind_port, f"the upstream {other} already listens on this local port: "
                              "give each upstream of the group its own port")
        if self.update:
            if system:
                # A system job has no canaries in Nomad 1.9 and 1.10 (scheduler/scheduler_system.go
                # ignores them); 1.11 reads `canary` as a percentage of the nodes. Neither means
                # what it means for a service job, so it is refused.
                check.require(self.update.canary == 0 and not self.update.auto_promote, "update.canary",
                              self.update.canary, "a system job rolls node by node (max_parallel at a time): "
                              "use a rolling update without canaries")
            # max_parallel counts nodes in a system job, not allocations of count.
            self.update._validate(check.child("update"), max(self.count, 1) if not system else 1 << 16)
            if rules.auto_revert_required:
                check.require(self.update.auto_revert, "update.auto_revert", self.update.auto_revert,
                              f"{rules.tier} deployments revert automatically to the last healthy version")
        self.restart._validate(check.child("restart"))
        if system:
            # nomad/structs/structs.go, TaskGroup.Validate: "System jobs may not have a spread block".
            check.require(not self.spreads, "spreads", [s.attribute for s in self.spreads],
                          "a system job runs on every eligible node and may not spread: drop the spread")
        for i, spread in enumerate(self.spreads):
            spread._validate(check.child(f"spread[{i}]"))
        if rules.spread_required and self.count > 1 and not system:
            check.require(bool(self.spreads), "spreads", [],
                          f"{rules.tier} spreads allocations across availability zones")


    def _validate_volume_mounts(self, check: Checker, task: "Task") -> None:
        defined = {v.name for v in self.volumes}
        taken = {m.target: "a mount" for m in task.config.mounts}
        for i, m in enumerate(task.volume_mounts):
            # nomad/structs/structs.go, Task.Validate (v1.10.2): "Volume Mount (%d) references
            # undefined volume %s".
            check.require(m.volume in defined, f"volume_mount[{i}].volume", m.volume,
                          f"mount a volume the group requests: {sorted(defined)}")
            parts = m.destination.split("/") if isinstance(m.destination, str) else []
            # The docker driver mounts the task directories at /alloc, /local and /secrets
            # (drivers/docker/driver.go, createContainerConfig): a volume there would hide them.
            check.require(len(parts) > 1 and parts[0] == "" and ".." not in parts and bool(parts[1])
                          and parts[1] not in TASK_DIRS, f"volume_mount[{i}].destination", m.destination,
                          "use an absolute container path outside /alloc, /local and /secrets, e.g. '/var/lib/app'")
            check.require(m.destination not in taken, f"volume_mount[{i}].destination", m.destination,
                          f"{taken.get(m.destination)} is already at this container path: give each its own")
            taken[m.destination] = f"volume {m.volume!r}"


@dataclass(frozen=True, kw_only=True)
class Job:
    """A Nomad job: a ``service`` job (``count`` allocations per group, placed by the
    scheduler) or a ``system`` job (one allocation of each group on every eligible client)."""

    id: str
    groups: tuple[TaskGroup, ...]
    datacenters: tuple[str, ...] = ("dc1",)
    region: str = "global"
    namespace: str = "default"
    type: Literal["service", "system"] = "service"
    priority: int = 50
    meta: Mapping[str, str] = field(default_factory=dict)

    def _api(self) -> dict:
        return {
            "ID": self.id,
            "Name": self.id,
            "Type": self.type,
            "Region": self.region,
            "Namespace": self.namespace,
            "Datacenters": list(self.datacenters),
            "Priority": self.priority,
            "TaskGroups": [g._api() for g in self.groups],
            "Meta": dict(sorted(self.meta.items())),
        }

    def validate(self, *, where: str = "", rules: JobRules = JobRules(), max_kill_timeout_s: float = 30) -> "Job":
        """Checks every rule; raises HashistackError naming job/group/task, field, value and fix.

        :param where: a prefix for messages, such as the construct path.
        :param rules: what the environment's tier adds (:class:`JobRules`: an allocation floor, a
            health check on every service, auto-revert, spread across availability zones; a system
            job runs on every node and is exempt from the count and spread rules). Default: none.
        :param max_kill_timeout_s: the clients' ``max_kill_timeout`` (Nomad's default: 30 s).
        """
        prefix = f"{where}: " if where else ""
        check = Checker(f'{prefix}job "{self.id}"')
        check.require(is_rfc1123_label(self.id), "id", self.id, RFC1123_HINT)
        check.require(bool(self.groups), "groups", [], "a job needs at least one task group")
        check.require(_is_int(self.priority) and 1 <= self.priority <= 100, "priority", self.priority, "use 1 to 100")
        check.require(self.type in ("service", "system"), "type", self.type, "use 'service' or 'system'")
        names = [g.name for g in self.groups]
        for g in self.groups:
            check.require(names.count(g.name) == 1, "group", g.name, "give each group its own name")
            g._validate(Checker(f"{check.where} > group {g.name!r}".replace("'", '"')), rules,
                        max_kill_timeout_s, self.type)
        return self

    def to_api(self) -> dict:
        """The job as Nomad API JSON (``{"Job": {...}}``), pruned of empty values."""
        return {"Job": _prune(self._api())}


def render_job(job: Job) -> str:
    """The job as canonical JSON text: sorted keys, compact, deterministic."""
    return json.dumps(job.to_api(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
