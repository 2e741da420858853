"""Boot one node in the sandbox. Run inside fresh network and mount namespaces
(``unshare --net --mount --fork python -m tests.support.sandbox.node SPEC OUT``), so that every server
below listens on the namespace's own loopback and every mount vanishes with it.

In the namespace:
- a small proxy for AWS that answers ``CompleteLifecycleAction`` (moto does not implement it) and
  records each call, and forwards everything else to the test's moto server (outside the
  namespace, through the Unix socket the spec names: a pathname socket is reachable from any
  network namespace), in the boot's own moto account, which the test seeded with the
  environment's SSM parameters (:class:`tests.support.sandbox.harness.SharedMoto`);
- an HTTPS file server on 127.0.0.1:443 for ``apt.releases.hashicorp.com`` (the signed stand-in
  repository) and the region's S3 bucket (the stand-in SSM agent), with a certificate from a
  test CA the node trusts; the node's ``/etc/hosts`` points those names at 127.0.0.1;
- an IMDSv2 stand-in on 169.254.169.254:80 (token, instance id, private IP 127.0.0.1).

``modprobe`` and ``sysctl`` are recorders too: modules and kernel parameters belong to the host.

The node: an overlay on the cached Debian root, ``/proc``, a minimal ``/dev`` in which the data
volumes are loop devices named as EC2 attaches them (``/dev/sdf`` -> ``/dev/loopN``), and
``systemctl`` answered by the systemd stand-in (tests/support/systemd_standin.py: a unit starts only if
what it reads is there for its user, Consul only when it would report ready) and ``swapoff``
replaced by a recorder. cloud-init's two stages run in cloud-init's
order: ``write_files`` (done here, as cloud-init's module does: path, content, permissions,
owner), then each ``runcmd`` entry, with stdin closed as under cloud-init.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.processes import stop_process

PROXY_PORT = 4566
INSTANCE_ID = "i-0123456789abcdef0"
IMDS_TOKEN = "sandbox-imds-token"

SYSTEMCTL = """#!/bin/sh
# STAND-IN (boot sandbox): no init system runs here. Every call is logged, then answered by the
# sandbox's systemd stand-in outside the node (tests/support/systemd_standin.py, through files in
# /run/sandbox-systemd): a unit starts only if its file, EnvironmentFile=, configs and the
# certificates they name are there and readable by its User=, and Consul only when it would
# report ready; is-active answers from those starts.
echo "$*" >> /var/log/sandbox-systemctl.log
dir=/run/sandbox-systemd
id="$$.$(date +%s%N)"
printf '%s\\n' "$@" > "$dir/.req.$id" && mv "$dir/.req.$id" "$dir/req.$id"
i=0
while [ ! -e "$dir/rep.$id" ]; do
  i=$((i + 1))
  [ "$i" -lt 6000 ] || { echo "systemctl stand-in: no answer" >&2; exit 1; }
  sleep 0.01
done
code=$(head -n 1 "$dir/rep.$id")
tail -n +2 "$dir/rep.$id" >&2
rm -f "$dir/rep.$id"
exit "$code"
"""
SWAPOFF = """#!/bin/sh
# RECORDER (boot sandbox): swap is the host's; the call is logged, not made.
echo "swapoff $*" >> /var/log/sandbox-swapoff.log
"""
KERNEL = """#!/bin/sh
# RECORDER (boot sandbox): kernel modules and kernel parameters are the host's; the call is
# logged, not made. A file named after -p must exist, as sysctl would read it.
if [ "$1" = "-q" ]; then shift; fi
if [ "$1" = "-p" ] && [ ! -r "$2" ]; then echo "sysctl: cannot open $2" >&2; exit 1; fi
echo "$(basename "$0") $*" >> /var/log/sandbox-kernel.log
"""


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


def _wait_port(host: str, port: int, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


class _Quiet:
    def log_message(self, *args) -> None:  # noqa: D401 - silence the request log
        pass


class UnixHTTPConnection(HTTPConnection):
    """HTTP over a Unix socket (the test's moto server, through its bridge)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def lifecycle_proxy(calls: list[dict], moto_socket: str, account_id: str) -> ThreadingHTTPServer:
    """Forwards to moto, in the boot's account; answers CompleteLifecycleAction itself and
    records it."""

    class Handler(_Quiet, BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            form = urllib.parse.parse_qs(body.decode(errors="replace"))
            if form.get("Action") == ["CompleteLifecycleAction"]:
                calls.append({k: v[0] for k, v in form.items()})
                reply = (b'<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
                         b"<CompleteLifecycleActionResult/><ResponseMetadata><RequestId>sandbox</RequestId>"
                         b"</ResponseMetadata></CompleteLifecycleActionResponse>")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
            conn = UnixHTTPConnection(moto_socket, timeout=60)
            conn.request(self.command, self.path, body=body,
                         headers={**dict(self.headers), "x-moto-account-id": account_id})
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

    return ThreadingHTTPServer(("127.0.0.1", PROXY_PORT), Handler)


def imds_server(private_ip: str) -> ThreadingHTTPServer:
    """IMDSv2: a session token first, then metadata only with it."""

    class Handler(_Quiet, BaseHTTPRequestHandler):
        def _reply(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self._reply(200, IMDS_TOKEN)
            else:
                self._reply(400, "bad token request")

        def do_GET(self) -> None:
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                self._reply(401, "IMDSv2 token required")
                return
            values = {"/latest/meta-data/instance-id": INSTANCE_ID, "/latest/meta-data/local-ipv4": private_ip}
            self._reply(200, values[self.path]) if self.path in values else self._reply(404, "not found")

    return ThreadingHTTPServer(("169.254.169.254", 80), Handler)


def https_files(root: str, cert: str, key: str) -> ThreadingHTTPServer:
    class Handler(_Quiet, SimpleHTTPRequestHandler):
        # keep-alive: apt reuses connections, and a TLS connection closed without close_notify
        # after each HTTP/1.0 reply is an error to OpenSSL 3
        protocol_version = "HTTP/1.1"

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

    server = ThreadingHTTPServer(("127.0.0.1", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def prepare_root(spec: dict, work: Path) -> tuple[Path, list[str]]:
    """The node's root: overlay, /proc, /dev with the volumes as loop devices, recorders, trust."""
    upper, lower_work, root = work / "upper", work / "overlay-work", work / "root"
    for d in (upper, lower_work, root):
        d.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={spec['base_root']},upperdir={upper},workdir={lower_work}", str(root))
    _run("mount", "-t", "proc", "proc", str(root / "proc"))
    for tmp in ("dev", "run", "tmp"):
        _run("mount", "-t", "tmpfs", "-o", "mode=0755" if tmp != "tmp" else "mode=1777", "tmpfs", str(root / tmp))
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
                               ("tty", 5, 0)):
        _run("mknod", "-m", "0666", str(root / "dev" / name), "c", str(major), str(minor))
    (root / "dev/pts").mkdir()
    _run("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", str(root / "dev/pts"))
    (root / "dev/ptmx").symlink_to("pts/ptmx")
    (root / "dev/fd").symlink_to("/proc/self/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        (root / "dev" / name).symlink_to(f"/proc/self/fd/{i}")
    loops = []
    for device in spec["volumes"]:
        image = work / (Path(device).name + ".img")
        with open(image, "wb") as f:
            f.truncate(64 * 1024 * 1024)
        loop = _run("losetup", "--find", "--show", str(image)).stdout.strip()
        loops.append(loop)
        st = os.stat(loop)
        _run("mknod", "-m", "0660", str(root / loop.lstrip("/")), "b", str(os.major(st.st_rdev)),
             str(os.minor(st.st_rdev)))
        (root / device.lstrip("/")).symlink_to(loop)
    hosts = root / "etc/hosts"
    hosts.unlink(missing_ok=True)
    hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in spec["hostnames"]))
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.write_text(bundle.read_text() + Path(spec["ca_pem"]).read_text())
    for path, text in (("usr/local/bin/systemctl", SYSTEMCTL), ("usr/local/sbin/swapoff", SWAPOFF),
                       ("usr/local/sbin/modprobe", KERNEL), ("usr/local/sbin/sysctl", KERNEL)):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)
    if spec.get("bao"):
        target = root / spec["bao_in_node"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(spec["bao"], target)
    return root, loops


class RootView:
    """A booted root as tests.support.systemd_standin sees it: permissions checked by the kernel, as the
    unit's user (``test -r`` under chroot)."""

    UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")

    def __init__(self, root: Path) -> None:
        self.root = root

    def _p(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def unit_text(self, name: str) -> str | None:
        for d in self.UNIT_DIRS:
            f = self.root / d / name
            if f.is_file():
                return f.read_text()
        return None

    def exists(self, path: str) -> bool:
        return self._p(path).exists()

    def content(self, path: str) -> str:
        return self._p(path).read_text(errors="replace")

    def readable(self, path: str, user: str) -> str | None:
        if not self._p(path).exists():
            return f"{path} does not exist"
        if in_node(self.root, "/usr/bin/test", "-r", path, user=None if user == "root" else user).returncode == 0:
            return None
        return f"{path} is not readable by {user}"

    def listdir(self, path: str) -> list[str]:
        d = self._p(path)
        return sorted(os.listdir(d)) if d.is_dir() else []


def systemd(root: Path, cluster: dict, stop: threading.Event) -> threading.Thread:
    """Answers the node's systemctl (see SYSTEMCTL) with tests.support.systemd_standin."""
    from tests.support import systemd_standin

    view = RootView(root)
    state = systemd_standin.ClusterState(consul_servers_started=cluster.get("consul_servers_started", True),
                                         known_tokens={t: {} for t in cluster.get("known_tokens", [])})
    active: dict[str, bool] = {}
    queue = root / "run/sandbox-systemd"
    queue.mkdir(mode=0o777, exist_ok=True)

    def answer(argv: list[str]) -> tuple[int, str]:
        words = [w for w in argv if not w.startswith("-")]
        if not words:
            return 0, ""
        verb, units = words[0], [u if "." in u else f"{u}.service" for u in words[1:]]
        if verb in ("start", "restart", "reload-or-restart", "try-restart"):
            for unit in units:
                why = systemd_standin.start(view, unit, state, active)
                if why:
                    return 1, f"Job for {unit} failed: {why}\n"
            return 0, ""
        if verb == "enable":
            missing = [u for u in units if view.unit_text(u) is None]
            return (1, f"Failed to enable unit: Unit file {missing[0]} does not exist.\n") if missing else (0, "")
        if verb == "is-active":
            return (0, "active\n") if units and all(active.get(u) for u in units) else (3, "inactive\n")
        if verb == "stop":
            for unit in units:
                active[unit] = False
        return 0, ""

    def loop() -> None:
        while not stop.is_set():
            for request in sorted(queue.glob("req.*")):
                argv = request.read_text().splitlines()
                request.unlink()
                try:
                    code, text = answer(argv)
                except Exception as e:  # an error of the stand-in fails the call, never passes it
                    code, text = 1, f"systemctl stand-in: {type(e).__name__}: {e}\n"
                tmp = queue / (".rep." + request.name[4:])
                tmp.write_text(f"{code}\n{text}")
                tmp.rename(queue / ("rep." + request.name[4:]))
            time.sleep(0.005)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def write_files(root: Path, entries: list[dict]) -> None:
    """cloud-init's write_files: parents created, content written, permissions and owner set."""
    for entry in entries:
        target = root / entry["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry["content"])
        target.chmod(int(entry.get("permissions", "0644"), 8))
        assert entry.get("owner", "root:root") == "root:root"
        os.chown(target, 0, 0)


def node_env(spec: dict) -> dict:
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{PROXY_PORT}", "AWS_PAGER": ""}


def in_node(root: Path, *cmd: str, user: str | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    prefix = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [str(root)]
    return subprocess.run(prefix + ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in (env or {"PATH": "/usr/bin:/bin"}).items()],
                                    *cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


SEAL = re.compile(r'^seal "awskms" \{\n(?:  .*\n)*?\}\n', re.M)


def run_vault(root: Path, spec: dict, result: dict) -> None:
    """Start Vault as its unit would (its User=, its ExecStart=) with the rendered config, the seal
    swapped for a static one (OpenBao's PyPI build has no awskms); initialize; check health."""
    unit = (root / "usr/lib/systemd/system/vault.service").read_text()
    user = re.search(r"^User=(\S+)$", unit, re.M).group(1)
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1).split()
    config_path = root / "etc/vault.d/vault.hcl"
    config = config_path.read_text()
    seal = SEAL.search(config)
    result["vault_awskms_seal"] = seal.group(0) if seal else None
    static = ('seal "static" {\n  current_key_id = "sandbox-1"\n'
              f'  current_key    = "{"ab" * 32}"\n}}\n')
    config_path.write_text(SEAL.sub(static, config))
    log = open(Path(spec["workdir"]) / "vault.log", "w")
    proc = subprocess.Popen(["chroot", f"--userspec={user}:{user}", str(root), "/usr/bin/env", "-i",
                             "PATH=/usr/bin:/bin", "HOME=/etc/vault.d", *exec_start],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_port("127.0.0.1", 8200, 30)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        result["vault_uid"] = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        result["vault_user_uid"] = int(in_node(root, "id", "-u", user).stdout.strip())
        bao_env = {**os.environ, "VAULT_ADDR": "https://127.0.0.1:8200", "VAULT_CACERT": spec["ca_pem"],
                   "BAO_ADDR": "https://127.0.0.1:8200", "BAO_CACERT": spec["ca_pem"]}
        init = subprocess.run([spec["bao"], "operator", "init", "-recovery-shares=1", "-recovery-threshold=1",
                               "-format=json"], capture_output=True, text=True, env=bao_env, timeout=60)
        result["vault_init"] = {"rc": init.returncode, "stderr": init.stderr[-2000:],
                                "has_root_token": bool(init.returncode == 0 and json.loads(init.stdout).get("root_token"))}
        context = ssl.create_default_context(cafile=spec["ca_pem"])
        health = None
        for _ in range(100):
            try:
                with urllib.request.urlopen("https://127.0.0.1:8200/v1/sys/health", context=context, timeout=3) as r:
                    health = {"status": r.status, **json.loads(r.read())}
                    break
            except urllib.error.HTTPError as err:
                health = {"status": err.code, **json.loads(err.read() or b"{}")}
            except OSError as err:
                health = {"status": None, "error": str(err)}
            time.sleep(0.2)
        result["vault_health"] = health
    finally:
        stop_process(proc, timeout=20)
        log.close()
        result["vault_log"] = (Path(spec["workdir"]) / "vault.log").read_text()[-3000:]


def inspect(root: Path, spec: dict, result: dict) -> None:
    files = {}
    for path in spec["inspect"]:
        target = root / path.lstrip("/")
        if target.exists():
            st = target.stat()
            files[path] = {"uid": st.st_uid, "gid": st.st_gid, "mode": oct(st.st_mode & 0o7777), "size": st.st_size,
                           "text": target.read_text(errors="replace") if target.is_file() else None}
        else:
            files[path] = None
    result["files"] = files
    access = []
    for user, path, how in spec["access"]:
        flag = {"read": "-r", "write": "-w", "enter": "-x"}[how]
        ok = in_node(root, "/usr/bin/test", flag, path, user=user).returncode == 0
        access.append([user, path, how, ok])
    result["access"] = access
    passwd = (root / "etc/passwd").read_text()
    result["users"] = {line.split(":")[0]: int(line.split(":")[2]) for line in passwd.splitlines() if line}
    mounts = in_node(root, "/usr/bin/findmnt", "-rn", "-o", "TARGET,FSTYPE")
    result["mounts"] = mounts.stdout
    result["fstab"] = (root / "etc/fstab").read_text()
    result["executables"] = {path: os.access(root / path.lstrip("/"), os.X_OK) and (root / path.lstrip("/")).is_file()
                             for path in spec.get("executables", [])}
    for name in ("systemctl", "swapoff", "kernel"):
        log = root / f"var/log/sandbox-{name}.log"
        result[name] = log.read_text().splitlines() if log.exists() else []
    dpkg = in_node(root, "/usr/bin/dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\\n")
    result["packages"] = dpkg.stdout
    holds = in_node(root, "/usr/bin/apt-mark", "showhold")
    result["holds"] = holds.stdout.split()


def main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    work = Path(spec["workdir"])
    result: dict = {"lifecycle": []}
    _run("ip", "link", "set", "lo", "up")
    _run("ip", "addr", "add", "169.254.169.254/32", "dev", "lo")
    for server in (lifecycle_proxy(result["lifecycle"], spec["moto_socket"], spec["account_id"]),
                   imds_server("127.0.0.1"),
                   https_files(spec["files_root"], spec["tls_cert"], spec["tls_key"])):
        serve(server)
    root, loops = prepare_root(spec, work)
    stop = threading.Event()
    systemd(root, spec.get("cluster") or {}, stop)
    try:
        started = time.monotonic()
        write_files(root, spec["write_files"])
        outputs, rc = [], 0
        for argv in spec["runcmd"]:
            proc = in_node(root, *argv, env=node_env(spec), timeout=900)
            outputs.append(proc.stdout + proc.stderr)
            rc = proc.returncode
            if rc != 0:
                break
        result.update(rc=rc, output="".join(outputs)[-20000:], boot_s=round(time.monotonic() - started, 2))
        inspect(root, spec, result)
        if spec.get("bao") and rc == 0:
            run_vault(root, spec, result)
    finally:
        stop.set()
        subprocess.run(["umount", "-R", "-l", str(root)], capture_output=True)
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
    Path(out_path).write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
