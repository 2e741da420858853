"""A host volume mounted into the service: node-local data that outlives the task."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import nomad as n
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["Volume"]


@dataclass(frozen=True, kw_only=True)
class Volume:
    """A directory of the Nomad client, mounted into the service's container at ``mount_at``: the
    Kubernetes ``hostPath`` (or a node-local ``PersistentVolume``) equivalent. Pass it in
    ``ServiceSpec(options=(Volume.host("cache", mount_at="/var/cache/app"),))``.

    The volume is one the environment's clients offer (``ClientPool(host_volumes=
    (ClientHostVolume("cache", owner="65532:65532"),))``): the scheduler places the service only
    on clients that have it. What is written there stays on that node across the task's restarts
    and the job's updates, and is lost with the node: a cache, a spool, scratch space, never the
    only copy of data.

    :param name: the client's host volume.
    :param mount_at: the absolute container directory, outside ``/alloc``, ``/local`` and
        ``/secrets`` and apart from the service's config, secret and certificate directories.
    :param read_only: mount it read-only. Defaults to read-write, which needs a volume the clients
        offer read-write, and a ``ServiceSpec.user`` that the directory's owner and mode let write.
    """

    name: str
    mount_at: str
    read_only: bool = False

    @staticmethod
    def host(name: str, *, mount_at: str, read_only: bool = False) -> "Volume":
        return Volume(name=name, mount_at=mount_at, read_only=read_only)

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """The group's host-volume request and the task's mount of it; the volume must be one the
        clients offer, with the mode and owner this service can use."""
        check, clients = ctx.check, ctx.env.clients
        field = f"options[Volume({self.name})]"
        offered = clients.host_volume(self.name)
        check.require(offered is not None, field, self.name,
                      f"the clients of {ctx.env.name!r} offer no host volume of this name "
                      f"({sorted(v.name for v in clients.host_volumes) or 'none'}), so Nomad could place the service "
                      f"nowhere: declare ClientPool(host_volumes=(ClientHostVolume({self.name!r}, owner=...),)) in "
                      "the environment")
        assert offered is not None
        # scheduler/feasible.go, HostVolumeChecker.hasVolumes (v1.10.2): a read-write request is
        # infeasible on every node whose static volume is read-only.
        check.require(self.read_only or not offered.read_only, f"{field}.read_only", self.read_only,
                      "the clients offer this volume read-only, and Nomad places a read-write mount of it nowhere: "
                      "mount it with read_only=True")
        check.require(posixpath.isabs(self.mount_at) and posixpath.normpath(self.mount_at) == self.mount_at
                      and self.mount_at != "/", f"{field}.mount_at", self.mount_at,
                      "use an absolute container directory, e.g. '/var/cache/app'")
        if not self.read_only:
            check.require(ctx.ids is not None, f"{field}.read_only", self.read_only,
                          "whether the task can write there depends on the user it runs as, which the image decides "
                          f"unless the service says: set user='uid:gid' (the volume is owned by {offered.owner}, "
                          f"mode {offered.mode}), or mount it read-only")
            assert ctx.ids is not None
            uid, gid = ctx.ids
            check.require(offered.writable_by(uid, gid), f"{field}.read_only", self.read_only,
                          f"the directory is owned by {offered.owner} (mode {offered.mode}) and the task runs as "
                          f"{uid}:{gid}, so it could not write there: give the volume owner='{uid}:{gid}' in "
                          "ClientHostVolume (with a mode its owner may write), or mount it read-only")
        return Contribution(
            volumes=((field, n.HostVolume(name=self.name, source=self.name, read_only=self.read_only)),),
            volume_mounts=((f"{field}.mount_at", n.VolumeMount(volume=self.name, destination=self.mount_at,
                                                               read_only=self.read_only)),))
