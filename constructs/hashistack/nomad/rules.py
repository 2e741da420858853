"""The rules an environment adds to Nomad's own when it validates a job."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JobRules"]


@dataclass(frozen=True, kw_only=True)
class JobRules:
    """What a tier requires of every job beyond what Nomad refuses (an environment's
    :class:`~hashistack.environment.TierPolicy` holds one). The defaults add nothing.

    :param tier: names the tier in messages.
    :param min_count: the fewest allocations of a service job's group, so one can fail or roll
        without an outage.
    :param checks_required: every registered service has a health check.
    :param spread_required: a group of more than one allocation spreads over availability zones.
    :param auto_revert_required: a rollout reverts on its own to the last healthy version.
    """

    tier: str = ""
    min_count: int = 0
    checks_required: bool = False
    spread_required: bool = False
    auto_revert_required: bool = False
