"""The Nomad job model: plain Python dataclasses rendering canonical Nomad API JSON, one module
per concept (network, services and checks with Connect, rollout, placement, volumes, the task,
the job), the rules a tier adds (rules.py) and the one parser of Vault reads in templates
(vault_calls.py)."""

from ._base import SIGNALS, signal_problem
from .job import Job, TaskGroup, render_job
from .network import SAME_AS_HOST, Network, Port
from .placement import Constraint, Spread
from .rollout import RestartPolicy, UpdateStrategy
from .services import Check, CheckRestart, Connect, ConsulUpstream, ExposePath, Service, SidecarTask
from .task import DockerAuth, DockerConfig, Identity, LogConfig, Mount, Resources, Task, Template, VaultBlock
from .volumes import HostVolume, VolumeMount
from .rules import JobRules

__all__ = [
    "SAME_AS_HOST",
    "SIGNALS",
    "Check",
    "CheckRestart",
    "Connect",
    "Constraint",
    "ConsulUpstream",
    "DockerAuth",
    "DockerConfig",
    "ExposePath",
    "HostVolume",
    "Identity",
    "Job",
    "JobRules",
    "LogConfig",
    "Mount",
    "Network",
    "Port",
    "Resources",
    "RestartPolicy",
    "Service",
    "SidecarTask",
    "Spread",
    "Task",
    "TaskGroup",
    "Template",
    "UpdateStrategy",
    "VaultBlock",
    "VolumeMount",
    "render_job",
    "signal_problem",
]
