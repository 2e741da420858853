"""The rollout: how a new version replaces the running one. Every strategy auto-reverts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .. import nomad as n
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["Update"]


@dataclass(frozen=True, kw_only=True)
class Update:
    """The rollout strategy. Every strategy auto-reverts to the last healthy version.

    - :meth:`rolling`: replace ``max_parallel`` allocations at a time;
    - :meth:`canary`: start ``canaries`` new allocations beside the old ones, promote
      automatically once healthy (``auto_promote=True``, the default) or by hand
      (``auto_promote=False``: ``nomad deployment promote``; refused where ``terraform apply``
      waits for deployments, since the deployment never ends while it waits);
    - :meth:`blue_green`: start a full new set beside the old one (canaries = count).
    """

    kind: Literal["rolling", "canary", "blue_green"]
    max_parallel: int = 1
    canaries: int = 0
    auto_promote: bool = False
    min_healthy_time_s: float = 10
    healthy_deadline_s: float = 300
    progress_deadline_s: float = 600

    @staticmethod
    def rolling(max_parallel: int = 1, *, min_healthy_time_s: float = 10, healthy_deadline_s: float = 300,
                progress_deadline_s: float = 600) -> "Update":
        return Update(kind="rolling", max_parallel=max_parallel, min_healthy_time_s=min_healthy_time_s,
                      healthy_deadline_s=healthy_deadline_s, progress_deadline_s=progress_deadline_s)

    @staticmethod
    def canary(canaries: int = 1, *, auto_promote: bool = True, max_parallel: int | None = None,
               min_healthy_time_s: float = 10, healthy_deadline_s: float = 300,
               progress_deadline_s: float = 600) -> "Update":
        return Update(kind="canary", canaries=canaries, auto_promote=auto_promote,
                      max_parallel=max_parallel if max_parallel is not None else canaries,
                      min_healthy_time_s=min_healthy_time_s, healthy_deadline_s=healthy_deadline_s,
                      progress_deadline_s=progress_deadline_s)

    @staticmethod
    def blue_green(*, auto_promote: bool = True, min_healthy_time_s: float = 10,
                   healthy_deadline_s: float = 300, progress_deadline_s: float = 600) -> "Update":
        return Update(kind="blue_green", auto_promote=auto_promote, min_healthy_time_s=min_healthy_time_s,
                      healthy_deadline_s=healthy_deadline_s, progress_deadline_s=progress_deadline_s)

    @staticmethod
    def default_for(ctx: "ServiceContext") -> "Update":
        """The rollout of a service that declares none: an auto-promoted canary of 1 in
        production, a rolling update elsewhere and for a system job."""
        return Update.canary(1) if ctx.env.tier.policy.default_canary and not ctx.system else Update.rolling()

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """The group's update block, fitted to its count (a system job rolls node by node)."""
        env, check, count, system = ctx.env, ctx.check, ctx.count, ctx.system
        if system:
            # Nomad 1.9 and 1.10 have no canaries for system jobs and 1.11 reads `canary` as a
            # percentage of nodes (scheduler/scheduler_system.go): a system job rolls node by node.
            check.require(self.kind == "rolling", "update", f"Update.{self.kind}(...)",
                          "a system job runs on every node and rolls node by node: use "
                          "Update.rolling(max_parallel=...)")
        if self.kind == "canary":
            check.require(isinstance(self.canaries, int) and 1 <= self.canaries <= max(count, 1), "update.canaries",
                          self.canaries,
                          f"use 1 to count ({count}) canaries, or Update.blue_green() for a full second set")
        if self.kind != "rolling" and not self.auto_promote and env.awaits_deployments:
            # With detach = false the provider waits for the deployment, and Nomad does not end a
            # deployment whose canaries wait for promotion (nomad/deploymentwatcher, 1.9-1.11).
            check.fail("update.auto_promote", self.auto_promote,
                       f"terraform apply waits for each deployment in {env.name}, and a canary that waits for manual "
                       "promotion never ends it: use auto_promote=True (the default) or Update.rolling()")
        canary = count if self.kind == "blue_green" else self.canaries
        if system:  # max_parallel counts nodes
            check.require(isinstance(self.max_parallel, int) and self.max_parallel >= 1, "update.max_parallel",
                          self.max_parallel, "use 1 or more nodes at a time")
            return Contribution(update=n.UpdateStrategy(
                max_parallel=self.max_parallel, canary=0, auto_promote=False, auto_revert=True,
                min_healthy_time_s=self.min_healthy_time_s, healthy_deadline_s=self.healthy_deadline_s,
                progress_deadline_s=self.progress_deadline_s))
        if self.kind != "blue_green" and self.max_parallel > max(count, 1):
            check.fail("update.max_parallel", self.max_parallel, f"use 1 to count ({count}) allocations at a time")
        return Contribution(update=n.UpdateStrategy(
            max_parallel=count if self.kind == "blue_green" else max(1, min(self.max_parallel, max(count, 1))),
            canary=canary, auto_promote=self.auto_promote and canary > 0, auto_revert=True,
            min_healthy_time_s=self.min_healthy_time_s, healthy_deadline_s=self.healthy_deadline_s,
            progress_deadline_s=self.progress_deadline_s))
