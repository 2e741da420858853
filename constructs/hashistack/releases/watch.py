"""Follow a job's rollout after ``deploy`` and explain how it ended (Levant's idea, in our CLI).

For a service job, the job's deployments (``GET /v1/job/:id/deployments``) are followed until
Nomad decides the newest: ``successful``; ``failed`` with "rolling back to job version N" in its
description (Nomad reverted: ``auto_revert``); or failed without a revert. A revert is itself a
new job version with a deployment of its own, so a newest deployment that follows such a failure
is read as that rollout rolled back, whenever the watch starts. On failure the failing allocations' task events are shown
(``/v1/deployment/allocations/:id``). Nomad creates no deployment for a system job (the ingress
proxy; ``scheduler/reconcile.go``), so its allocations of the job's current version are followed
instead (``/v1/job/:id/allocations``) until each runs or one fails.

Deployment statuses and descriptions are Nomad 1.10.2's (``nomad/structs/structs.go``:
``DeploymentStatus*``, ``DeploymentStatusDescriptionRollback``); the fields read are those of
``api/deployments.go`` (``Deployment``, ``DeploymentState``) and ``api/allocations.go``
(``AllocationListStub``, ``TaskState``, ``TaskEvent``).

Plain Python: ``get(path) -> (status, body)`` is the only way out, so a test drives it with a
stub of those endpoints.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["EXIT_CODES", "Outcome", "watch", "worst"]

Get = Callable[[str], tuple[int, Any]]

EXIT_CODES = {"successful": 0, "rolled-back": 3, "failed": 4, "timed-out": 5}
"""The exit code ``make watch`` ends with for each outcome: a revert is not a success, and not the
same failure as one Nomad could not even revert."""

def worst(codes) -> int:
    """The exit code of several watches: the highest failure's, else 0."""
    return max(codes, default=0)


_ROLLBACK = re.compile(r"rolling back to job version (\d+)")
_EVENTS_SHOWN = 5


@dataclass(frozen=True)
class Outcome:
    """How a job's rollout ended."""

    job: str
    status: str
    """``successful``, ``rolled-back``, ``failed`` or ``timed-out``."""
    version: int | None
    """The job version that was rolled out."""
    reverted_to: int | None = None
    description: str = ""
    seconds: float = 0.0
    failures: tuple[str, ...] = field(default_factory=tuple)
    """What the failing allocations' tasks said (their last events)."""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def summary(self) -> str:
        version = f"v{self.version}" if self.version is not None else "?"
        reverted = f", reverted to v{self.reverted_to}" if self.reverted_to is not None else ""
        return f"{self.job}: {version} {self.status}{reverted} in {self.seconds:.0f}s" + (
            f" ({self.description})" if self.description else "")


def _events(allocation: dict) -> list[str]:
    """The last events of each task of ``allocation`` that failed or did not run."""
    lines = []
    for task, state in sorted((allocation.get("TaskStates") or {}).items()):
        if state.get("State") == "running" and not state.get("Failed"):
            continue
        events = (state.get("Events") or [])[-_EVENTS_SHOWN:]
        said = "; ".join(f"{e.get('Type')}: {e.get('DisplayMessage') or e.get('Message') or ''}".rstrip(": ")
                         for e in events)
        lines.append(f"allocation {str(allocation.get('ID', ''))[:8]} on {allocation.get('NodeName', '?')}, "
                     f"task {task} ({state.get('State')}{', failed' if state.get('Failed') else ''}): {said}")
    return lines


def _failures(get: Get, deployment_id: str) -> tuple[str, ...]:
    status, allocations = get(f"/v1/deployment/allocations/{deployment_id}")
    if status != 200 or not isinstance(allocations, list):
        return ()
    failing = [a for a in allocations
               if (a.get("DeploymentStatus") or {}).get("Healthy") is False or a.get("ClientStatus") == "failed"]
    return tuple(line for a in failing for line in _events(a))


def _progress(job: str, deployment: dict, now: float) -> str:
    parts = []
    for group, state in sorted((deployment.get("TaskGroups") or {}).items()):
        text = f"{group} {state.get('HealthyAllocs', 0)}/{state.get('DesiredTotal', 0)} healthy"
        if state.get("DesiredCanaries"):
            text += f", canaries {len(state.get('PlacedCanaries') or [])}/{state['DesiredCanaries']}"
            text += ", promoted" if state.get("Promoted") else ""
        if state.get("UnhealthyAllocs"):
            text += f", {state['UnhealthyAllocs']} unhealthy"
        parts.append(text)
    return f"{job} v{deployment.get('JobVersion')}: {deployment.get('Status')}: " + "; ".join(parts)


def _unplaceable(get: Get, job: str) -> str | None:
    """Why Nomad cannot place the job, from its newest evaluation when that one is blocked
    (``FailedTGAllocs``: per group, the nodes evaluated and what filtered or exhausted them): a
    rollout that cannot be placed never starts its progress deadline, so only this says why."""
    status, evaluations = get(f"/v1/job/{job}/evaluations")
    if status != 200 or not isinstance(evaluations, list) or not evaluations:
        return None
    candidates = [e for e in evaluations if isinstance(e, dict)]
    if not candidates:
        return None
    newest = max(candidates, key=lambda e: e.get("CreateIndex", 0))
    failed = newest.get("FailedTGAllocs") or {}
    if newest.get("Status") != "blocked" or not failed:
        return None
    reasons = []
    for group, metric in sorted(failed.items()):
        why = [f"{reason} ({count})" for reason, count in sorted((metric.get("ConstraintFiltered") or {}).items())]
        why += [f"{dimension} exhausted ({count})"
                for dimension, count in sorted((metric.get("DimensionExhausted") or {}).items())]
        reasons.append(f"group {group}: {metric.get('NodesEvaluated', 0)} clients evaluated"
                       + (f", {'; '.join(why)}" if why else ""))
    return "; ".join(reasons)


def watch(get: Get, job: str, *, since_ns: int = 0, timeout_s: float = 1800, poll_s: float = 2.0,
          blocked_s: float = 60, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic, say: Callable[[str], None] = print) -> Outcome:
    """Follows ``job``'s rollout until Nomad decides or ``timeout_s`` passes, saying each change
    of progress once; returns the :class:`Outcome`. A placement Nomad has kept blocked for
    ``blocked_s`` (no client fits) ends the watch as failed, with the reasons.

    ``since_ns`` is when the deploy began (Unix nanoseconds, as Nomad's ``SubmitTime``): a job
    not submitted since then was not changed by it, and its earlier rollouts are not this one's.
    The rollout followed is the deployment of the job's version as the watch starts (or the
    revert Nomad registered after it), waited for when Nomad has not created it yet."""
    start = clock()
    status, document = get(f"/v1/job/{job}")
    if status != 200 or not isinstance(document, dict):
        why = {403: "the token may not read it (HTTP 403)", 404: "no such job (HTTP 404)"}.get(
            status, f"Nomad did not answer ({status or document})")
        return Outcome(job=job, status="failed", version=None, description=why)
    version = int(document.get("Version", 0))
    if since_ns and int(document.get("SubmitTime") or 0) < since_ns:
        return Outcome(job=job, status="successful", version=version,
                       description="unchanged: no new version was submitted by this deploy")
    if document.get("Type") == "system":
        return _watch_system(get, job, version, timeout_s, poll_s, sleep, clock, say, start)
    last = ""
    blocked_since: float | None = None
    while True:
        status, listed = get(f"/v1/job/{job}/deployments")
        elapsed = clock() - start
        everything = sorted((d for d in listed if isinstance(d, dict)) if status == 200 and isinstance(listed, list)
                            else [], key=lambda d: d.get("CreateIndex", 0), reverse=True)
        # the deployments of this rollout: of the job's version as the watch began, or later (a revert)
        ours = [i for i, d in enumerate(everything) if int(d.get("JobVersion", -1)) >= version]
        deployments = everything[ours[0]:] if ours else []
        if deployments:
            deployment, reverted_from = deployments[0], _reverted(deployments)
            if reverted_from is not None:
                # Nomad reverted: its revert is the newest deployment, the rollout the one before it
                return _ended(get, job, reverted_from, elapsed)
            line = _progress(job, deployment, elapsed)
            if line != last:
                say(line)
                last = line
            if deployment.get("Status") in ("successful", "failed", "cancelled"):
                return _ended(get, job, deployment, elapsed)
        placed = all(state.get("PlacedAllocs", 0) >= state.get("DesiredTotal", 0)
                     for state in ((deployments[0].get("TaskGroups") or {}).values() if deployments else ()))
        if not deployments or not placed:
            unplaceable = _unplaceable(get, job)
            if unplaceable is None:
                blocked_since = None
            else:
                blocked_since = elapsed if blocked_since is None else blocked_since
                if elapsed - blocked_since >= blocked_s:
                    return Outcome(job=job, status="failed", seconds=elapsed,
                                   version=deployments[0].get("JobVersion") if deployments else None,
                                   description=f"Nomad cannot place it (blocked evaluation): {unplaceable}; it places the "
                                               "allocations once a client fits, and the progress deadline has not "
                                               "started")
        if elapsed >= timeout_s:
            return Outcome(job=job, status="timed-out", version=None, seconds=elapsed,
                           description=f"no decision from Nomad in {timeout_s:.0f}s")
        sleep(poll_s)


def _reverted(deployments: list[dict]) -> dict | None:
    """The failed rollout that Nomad's newest deployment reverts, if it is a revert: the one before
    it failed "rolling back to job version N", and the newest deploys the version Nomad registered
    for that (the failed version + 1)."""
    if len(deployments) < 2:
        return None
    newest, before = deployments[0], deployments[1]
    if before.get("Status") == "failed" and _ROLLBACK.search(before.get("StatusDescription") or "") and \
            newest.get("JobVersion") == (before.get("JobVersion") or 0) + 1:
        return before
    return None


def _ended(get: Get, job: str, deployment: dict, elapsed: float) -> Outcome:
    state, description = deployment.get("Status"), deployment.get("StatusDescription") or ""
    version = deployment.get("JobVersion")
    if state == "successful":
        return Outcome(job=job, status="successful", version=version, description=description, seconds=elapsed)
    reverted = _ROLLBACK.search(description)
    return Outcome(job=job, status="rolled-back" if reverted else "failed", version=version,
                   reverted_to=int(reverted.group(1)) if reverted else None, description=description,
                   seconds=elapsed, failures=_failures(get, deployment["ID"]))


def _watch_system(get: Get, job: str, version: int, timeout_s: float, poll_s: float,
                  sleep: Callable[[float], None], clock: Callable[[], float], say: Callable[[str], None],
                  start: float) -> Outcome:
    """A system job has no deployment: its allocations of ``version`` run, or one fails."""
    last = ""
    while True:
        status, allocations = get(f"/v1/job/{job}/allocations")
        elapsed = clock() - start
        # the allocations of this version Nomad wants running (not those drained, lost or replaced)
        current = [a for a in allocations or [] if a.get("JobVersion") == version and a.get("DesiredStatus", "run")
                   == "run"] if status == 200 and isinstance(allocations, list) else []
        running = [a for a in current if a.get("ClientStatus") == "running"
                   and all(s.get("State") == "running" for s in (a.get("TaskStates") or {}).values())]
        failed = [a for a in current if a.get("ClientStatus") == "failed"
                  or any(s.get("Failed") for s in (a.get("TaskStates") or {}).values())]
        line = f"{job} v{version} (system): {len(running)}/{len(current)} allocations running" + (
            f", {len(failed)} failed" if failed else "")
        if line != last:
            say(line)
            last = line
        if failed:
            return Outcome(job=job, status="failed", version=version, seconds=elapsed,
                           description="allocations of the system job failed (Nomad gives system jobs no deployment, "
                                       "so nothing reverts them)",
                           failures=tuple(line for a in failed for line in _events(a)))
        if current and len(running) == len(current):
            return Outcome(job=job, status="successful", version=version, seconds=elapsed,
                           description=f"{len(running)} allocations running")
        if elapsed >= timeout_s:
            return Outcome(job=job, status="timed-out", version=version, seconds=elapsed,
                           description=f"{len(running)}/{len(current)} running after {timeout_s:.0f}s")
        sleep(poll_s)
