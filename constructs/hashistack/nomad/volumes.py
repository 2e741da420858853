"""Host volumes a group requests and the task mounts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Checker

__all__ = ["HostVolume", "VolumeMount"]

_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


@dataclass(frozen=True, kw_only=True)
class HostVolume:
    """The group's request for a host volume that clients declare (``client { host_volume }``):
    the scheduler places the group only on a client that has a volume named ``source``
    (scheduler/feasible.go ``HostVolumeChecker.hasVolumes``, v1.10.2), and a read-write request
    only where the client's volume is not read-only."""

    name: str
    source: str
    read_only: bool = False

    def _api(self) -> dict:
        return {"Name": self.name, "Type": "host", "Source": self.source, "ReadOnly": self.read_only}

    def _validate(self, check: Checker) -> None:
        check.require(bool(_VOLUME_NAME.fullmatch(self.name)), "name", self.name,
                      "use letters, digits, '_' and '-' (at most 63), e.g. 'data'")
        # nomad/structs/volumes.go, VolumeRequest.Validate (v1.10.2): "volume has an empty source".
        check.require(bool(_VOLUME_NAME.fullmatch(self.source)), "source", self.source,
                      "name the client's host volume (letters, digits, '_' and '-'), e.g. 'data'")


@dataclass(frozen=True, kw_only=True)
class VolumeMount:
    """A group volume mounted into the task at ``destination``. ``PropagationMode`` is rendered as
    Nomad canonicalizes it (``private``, api/tasks.go ``VolumeMount.Canonicalize``)."""

    volume: str
    destination: str
    read_only: bool = False

    def _api(self) -> dict:
        return {"Volume": self.volume, "Destination": self.destination, "ReadOnly": self.read_only,
                "PropagationMode": "private"}
