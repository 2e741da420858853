"""How a group rolls out a new version and restarts failed tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import Checker
from ._base import _is_int, ns, _positive

__all__ = ["RestartPolicy", "UpdateStrategy"]

@dataclass(frozen=True, kw_only=True)
class UpdateStrategy:
    """How a new job version rolls out. Defaults to a rolling update of one allocation at a
    time with auto-revert, judged by the health checks."""

    max_parallel: int = 1
    canary: int = 0
    auto_promote: bool = False
    auto_revert: bool = True
    health_check: Literal["checks", "task_states", "manual"] = "checks"
    min_healthy_time_s: float = 10
    healthy_deadline_s: float = 300
    progress_deadline_s: float = 600

    def _api(self) -> dict:
        return {
            "MaxParallel": self.max_parallel,
            "Canary": self.canary,
            "AutoPromote": self.auto_promote,
            "AutoRevert": self.auto_revert,
            "HealthCheck": self.health_check,
            "MinHealthyTime": ns(self.min_healthy_time_s),
            "HealthyDeadline": ns(self.healthy_deadline_s),
            "ProgressDeadline": ns(self.progress_deadline_s),
        }

    def _validate(self, check: Checker, count: int) -> None:
        check.require(_is_int(self.max_parallel) and 1 <= self.max_parallel <= count, "max_parallel",
                      self.max_parallel, f"use 1 to count ({count}) allocations at a time")
        check.require(_is_int(self.canary) and 0 <= self.canary <= count, "canary", self.canary,
                      f"use 0 to count ({count}) canaries (count canaries is a blue/green deployment)")
        check.require(not self.auto_promote or self.canary >= 1, "auto_promote", self.auto_promote,
                      "auto-promotion promotes canaries: set canary >= 1 or drop auto_promote")
        check.require(self.health_check in ("checks", "task_states", "manual"), "health_check", self.health_check,
                      "use 'checks', 'task_states' or 'manual'")
        check.require(isinstance(self.min_healthy_time_s, (int, float)) and self.min_healthy_time_s >= 0
                      and self.min_healthy_time_s < self.healthy_deadline_s,
                      "min_healthy_time_s", self.min_healthy_time_s,
                      f"must be below healthy_deadline_s ({self.healthy_deadline_s}s): an allocation must be able "
                      "to stay healthy that long before its deadline")
        check.require(_positive(self.healthy_deadline_s) and self.healthy_deadline_s < self.progress_deadline_s,
                      "healthy_deadline_s", self.healthy_deadline_s,
                      f"must be below progress_deadline_s ({self.progress_deadline_s}s), or the deployment "
                      "fails before an allocation can be judged healthy")


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    """Local restarts of a failed task before the allocation fails and is rescheduled.
    Defaults to 2 attempts in 30 minutes, 15 seconds apart, then fail."""

    attempts: int = 2
    interval_s: float = 1800
    delay_s: float = 15
    mode: Literal["fail", "delay"] = "fail"

    def _api(self) -> dict:
        return {"Attempts": self.attempts, "Interval": ns(self.interval_s), "Delay": ns(self.delay_s),
                "Mode": self.mode}

    def _validate(self, check: Checker) -> None:
        # nomad/structs/structs.go, RestartPolicy.Validate (RestartPolicyMinInterval = 5s).
        check.require(_is_int(self.attempts) and self.attempts >= 0, "attempts", self.attempts, "use 0 or more")
        check.require(self.mode in ("fail", "delay"), "mode", self.mode, "use 'fail' or 'delay'")
        check.require(not (self.mode == "delay" and self.attempts == 0), "attempts", self.attempts,
                      "mode 'delay' with 0 attempts is ambiguous to Nomad: use 1 or more attempts, or mode 'fail'")
        check.require(_positive(self.interval_s) and self.interval_s >= 5, "interval_s", self.interval_s,
                      "use an interval of at least 5 seconds (Nomad's minimum restart interval)")
        check.require(isinstance(self.delay_s, (int, float)) and self.delay_s >= 0
                      and self.delay_s * self.attempts <= self.interval_s,
                      "interval_s", self.interval_s,
                      f"must fit attempts x delay ({self.attempts} x {self.delay_s}s)")
