"""A Debian root filesystem for booting cluster nodes in, built once per machine and kept in the
test set-up cache outside the clone (:mod:`scripts.cache`), keyed by everything that goes into it.

``debootstrap --variant=minbase`` of the release the nodes run (Debian 13, trixie, as
:class:`hashistack.MachineImage` selects), then, inside it, the packages Debian's cloud image
ships or the boot installs from Debian's archive. apt's own sources are then emptied, so a node
boot in the sandbox reaches nothing but the loopback servers the test starts.

A few of the packages the boot installs are left out of the root on purpose (:data:`BOOT_DEBS`):
their real Debian ``.deb`` files (with any dependency the root lacks) are downloaded into
:data:`DEBS_DIR` instead, and the sandbox serves them from its loopback repository, so the boot's
own ``apt-get install`` really installs them and the test sees what they put on the node.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from scripts.cache import cached_dir

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# What Debian's EC2 image ships (ca-certificates, curl, gnupg, e2fsprogs, util-linux, logrotate, kmod)
# plus what the boot installs from Debian's archive (awscli, amazon-ec2-utils, systemd-resolved, docker.io).
PACKAGES = ("ca-certificates", "curl", "gnupg", "awscli", "logrotate", "e2fsprogs", "util-linux",
            "amazon-ec2-utils", "systemd-resolved", "passwd", "procps", "iproute2", "docker.io", "kmod")
# Installed by the boot itself from the sandbox's repository (the Nomad clients' CNI plugins).
BOOT_DEBS = ("containernetworking-plugins",)
DEBS_DIR = "var/cache/hashistack-sandbox-debs"
"""Inside the root: the real .deb files of :data:`BOOT_DEBS`, for the sandbox's repository."""
BUILDER_VERSION = "3"


def _chroot(root: Path, *cmd: str) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    subprocess.run(["unshare", "--mount", "--fork", "sh", "-c",
                    f'mount -t proc proc "{root}/proc" && exec chroot "{root}" "$@"', "sh", *cmd],
                   check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True)


def build(target: Path) -> None:
    """debootstrap + the packages, into ``target`` (an empty directory)."""
    target.chmod(0o755)  # the nodes' "/": every service user traverses it
    with open(target.parent / f"{target.name}.debootstrap.log", "w") as out:
        subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(target), MIRROR], check=True,
                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _chroot(target, "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"apt-get install in the sandbox root failed:\n{err.stdout.decode()[-3000:]}"
                           f"\n{err.stderr.decode()[-3000:]}") from err
    # the boot's own packages, as files: apt-get install --download-only fetches each with the
    # dependencies the root lacks, into the archive cache, from which they are kept
    _chroot(target, "apt-get", "clean")
    _chroot(target, "apt-get", "install", "-y", "--no-install-recommends", "--download-only", *BOOT_DEBS)
    debs = target / DEBS_DIR
    debs.mkdir(parents=True)
    for deb in (target / "var/cache/apt/archives").glob("*.deb"):
        shutil.move(str(deb), debs / deb.name)
    if not any(debs.glob(f"{name}_*.deb") for name in BOOT_DEBS):
        raise RuntimeError(f"apt-get did not download {BOOT_DEBS} into the sandbox root")
    _chroot(target, "apt-get", "clean")
    (target / "etc/apt/sources.list").write_text("")
    for extra in (target / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    shutil.rmtree(target / "var/lib/apt/lists", ignore_errors=True)
    (target / "var/lib/apt/lists/partial").mkdir(parents=True)


def boot_debs(root: Path) -> list[Path]:
    """The real Debian packages the sandbox's repository serves to the boot (see :data:`BOOT_DEBS`)."""
    return sorted((root / DEBS_DIR).glob("*.deb"))


def base_root() -> Path:
    """The cached root, built on first use (the cache's lock keeps parallel sessions from racing)."""
    inputs = [SUITE, MIRROR, BUILDER_VERSION, *sorted(PACKAGES), *sorted(BOOT_DEBS)]
    return cached_dir(f"debian-{SUITE}-sandbox", inputs=inputs, build=build, keep=3)  # ~650 MB each
