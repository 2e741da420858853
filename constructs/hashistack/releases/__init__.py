"""Releases: which version of each service runs in which environment, as reviewed data.

:class:`ReleaseManifest` is one environment's file (``releases/<env>.toml``): per service, the
version (an image tag or digest) and the build's revision. The app reads it at synth, so a
service's image and its job's ``meta`` come from it; promotion, rollback and history are changes
to it and its git log (``scripts/release.py``, ``make promote``/``rollback``/``history``).
"""

from .manifest import Release, ReleaseManifest

__all__ = ["Release", "ReleaseManifest"]
