"""A Debian root filesystem for booting cluster nodes in, built once per machine and kept in the
test set-up cache outside the clone (:mod:`scripts.cache`), keyed by everything that goes into it.

``mmdebstrap --variant=minbase`` of the release the nodes run (Debian 13, trixie, as
:class:`hashistack.MachineImage` selects) with the packages Debian's cloud image ships or the boot
installs from Debian's archive, in one apt run (parallel downloads: about 35 s on a 2-core machine,
against 45 s for ``debootstrap`` followed by ``apt-get install`` in the root, for the same
packages at the same versions). apt's own sources are then emptied, so a node boot in the sandbox
reaches nothing but the loopback servers the test starts.

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
# Installed by the boot itself from the sandbox's repository (the Nomad clients' CNI plugins and nftables).
BOOT_DEBS = ("containernetworking-plugins", "nftables")
DEBS_DIR = "var/cache/hashistack-sandbox-debs"
"""Inside the root: the real .deb files of :data:`BOOT_DEBS`, for the sandbox's repository."""
BUILDER_VERSION = "4"


def build(target: Path) -> None:
    """The root with the packages, into ``target`` (an empty directory)."""
    target.chmod(0o755)  # the nodes' "/": every service user traverses it
    debs = f'"$1"/{DEBS_DIR}'
    # the boot's own packages, as files: after the install, the archive cache is emptied, then
    # apt-get install --download-only fetches each with the dependencies the root lacks, and they
    # are kept before mmdebstrap's clean-up empties the cache again
    hooks = ['chroot "$1" apt-get clean',
             f'chroot "$1" apt-get install -y -qq --no-install-recommends --download-only {" ".join(BOOT_DEBS)}',
             f'mkdir -p {debs} && mv "$1"/var/cache/apt/archives/*.deb {debs}/']
    command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
               *(f"--customize-hook={hook}" for hook in hooks), SUITE, str(target), MIRROR]
    log = target.parent / f"{target.name}.mmdebstrap.log"
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"mmdebstrap of the sandbox root failed (exit {done.returncode}):\n"
                           f"{log.read_text()[-3000:]}")
    log.unlink()
    if not all(any((target / DEBS_DIR).glob(f"{name}_*.deb")) for name in BOOT_DEBS):
        raise RuntimeError(f"apt-get did not download {BOOT_DEBS} into the sandbox root")
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
