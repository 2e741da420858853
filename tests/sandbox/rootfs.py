"""A Debian root filesystem for booting cluster nodes in, built once per machine and kept in the
test set-up cache outside the clone (:mod:`tests.cache`), keyed by everything that goes into it.

``debootstrap --variant=minbase`` of the release the nodes run (Debian 13, trixie, as
:class:`hashistack.MachineImage` selects), then, inside it, the packages Debian's cloud image
ships or the boot installs from Debian's archive. apt's own sources are then emptied, so a node
boot in the sandbox reaches nothing but the loopback servers the test starts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..cache import cached_dir

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# What Debian's EC2 image ships (ca-certificates, curl, gnupg, e2fsprogs, util-linux, logrotate)
# plus what the boot installs from Debian's archive (awscli, amazon-ec2-utils, systemd-resolved, docker.io).
PACKAGES = ("ca-certificates", "curl", "gnupg", "awscli", "logrotate", "e2fsprogs", "util-linux",
            "amazon-ec2-utils", "systemd-resolved", "passwd", "procps", "iproute2", "docker.io")
BUILDER_VERSION = "1"


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
    _chroot(target, "apt-get", "clean")
    (target / "etc/apt/sources.list").write_text("")
    for extra in (target / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    shutil.rmtree(target / "var/lib/apt/lists", ignore_errors=True)
    (target / "var/lib/apt/lists/partial").mkdir(parents=True)


def base_root() -> Path:
    """The cached root, built on first use (the cache's lock keeps parallel sessions from racing)."""
    return cached_dir(f"debian-{SUITE}-sandbox", inputs=[SUITE, MIRROR, BUILDER_VERSION, *sorted(PACKAGES)],
                      build=build)
