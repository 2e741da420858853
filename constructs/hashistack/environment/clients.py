"""The Nomad clients that run the workloads, and the host volumes they offer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Checker
from ._base import _INSTANCE_TYPE
from .tiers import Tier

__all__ = ["ClientHostVolume", "ClientPool"]


_HOST_VOLUME_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


_OWNER = re.compile(r"(\d{1,10}):(\d{1,10})")


_MAX_ID = 4294967294  # the largest uid/gid Linux assigns (2^32 - 2; 2^32 - 1 means "none")


_MODE = re.compile(r"0[0-7]{3}")  # as the boot writes modes (cluster/cloud_init.py)


@dataclass(frozen=True, kw_only=True)
class ClientHostVolume:
    """A directory every Nomad client offers to jobs as a host volume (``client { host_volume }``),
    which a service mounts with :class:`~hashistack.service.Volume`. It lives on the client's root
    disk, created at boot with this owner and mode: node-local data (a cache, a spool, scratch
    space) that outlives a task's restarts and a job's updates on that node, not the node.

    :param name: the volume's name, which a service's ``Volume.host(name)`` requests.
    :param owner: the numeric ``uid:gid`` owning the directory: the user of the services that
        write to it (``ServiceSpec.user``). Defaults to ``0:0`` (root).
    :param mode: the directory's permissions. Defaults to ``0750``; never writable by others.
    :param read_only: offered read-only: every mount of it is read-only. Defaults to off.
    """

    name: str
    owner: str = "0:0"
    mode: str = "0750"
    read_only: bool = False

    @property
    def ids(self) -> tuple[int, int]:
        uid, gid = self.owner.split(":")
        return int(uid), int(gid)

    def writable_by(self, uid: int, gid: int) -> bool:
        """Whether a process of ``uid:gid`` may write into the directory (root always may)."""
        owner_uid, owner_gid = self.ids
        mode = int(self.mode, 8)
        if uid == 0:
            return True
        if uid == owner_uid:
            return bool(mode & 0o200)
        return gid == owner_gid and bool(mode & 0o020)

    def _validate(self, check: Checker) -> None:
        check.require(bool(_HOST_VOLUME_NAME.fullmatch(self.name)), "name", self.name,
                      "use lowercase letters, digits, '_' and '-' (at most 63), e.g. 'cache'")
        check.require(bool(_OWNER.fullmatch(self.owner)) and max(self.ids) <= _MAX_ID, "owner", self.owner,
                      "use the numeric 'uid:gid' of the services that write to it, e.g. '65532:65532'")
        check.require(bool(_MODE.fullmatch(self.mode)) and not int(self.mode, 8) & 0o002, "mode", self.mode,
                      "use octal permissions that others cannot write, e.g. '0750' or '0770'")


@dataclass(frozen=True, kw_only=True)
class ClientPool:
    """The Nomad client nodes that run the workloads.

    :param instance_type: EC2 instance type, e.g. ``m6i.large``.
    :param min_size: fewest clients (production: at least 2, so one node can fail).
    :param max_size: most clients the autoscaling group may run.
    :param desired_size: clients to start with. Defaults to ``min_size``.
    :param host_volumes: directories every client offers as host volumes
        (:class:`ClientHostVolume`). Defaults to none.
    """

    instance_type: str
    min_size: int
    max_size: int
    desired_size: int | None = None
    host_volumes: tuple[ClientHostVolume, ...] = ()

    def host_volume(self, name: str) -> ClientHostVolume | None:
        return next((v for v in self.host_volumes if v.name == name), None)

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(isinstance(self.instance_type, str) and bool(_INSTANCE_TYPE.fullmatch(self.instance_type)),
                      "instance_type", self.instance_type, "use an EC2 instance type such as 'm6i.large'")
        floor = tier.policy.min_clients
        check.require(isinstance(self.min_size, int) and self.min_size >= floor, "min_size", self.min_size,
                      f"run at least {floor} client(s) in a {tier.value} environment")
        check.require(isinstance(self.max_size, int) and self.max_size >= self.min_size, "max_size",
                      self.max_size, f"must be >= min_size ({self.min_size})")
        check.require(self.min_size <= self.desired <= self.max_size, "desired_size", self.desired_size,
                      f"must lie between min_size ({self.min_size}) and max_size ({self.max_size})")
        names = [v.name for v in self.host_volumes]
        for volume in self.host_volumes:
            volume._validate(check.child(f"host_volumes[{volume.name}]"))
            check.require(names.count(volume.name) == 1, "host_volumes", volume.name, "declare each volume once")
