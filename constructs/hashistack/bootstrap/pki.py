"""The cluster CA and the agents' TLS certificates, made and checked with ``cryptography``.

Keys are ECDSA P-256. Each agent certificate carries exactly the names its product verifies
(``verify_server_hostname``): Nomad ``server.<region>.nomad`` / ``client.<region>.nomad``,
Consul ``server.<datacenter>.consul`` / ``client.<datacenter>.consul``, plus the API's host name from the environment's address,
``localhost`` and ``127.0.0.1``; key usage digitalSignature and extended key usage serverAuth and
clientAuth, since every agent both serves and dials mTLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..environment import Environment
from ..errors import HashistackError
from .catalogue import Agent

__all__ = ["AgentNames", "agent_names", "check_agent_cert", "check_ca", "issue_agent_cert", "load_key", "make_ca",
           "new_key", "pem_cert", "pem_key"]

CONSUL_DOMAIN = "consul"
"""Consul's DNS domain (its ``domain`` setting, default ``consul``): servers are ``server.<dc>.consul``."""

MTLS_USAGES = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class AgentNames:
    dns: tuple[str, ...]
    ips: tuple[str, ...]

    def general_names(self) -> list[x509.GeneralName]:
        return ([x509.DNSName(n) for n in self.dns]
                + [x509.IPAddress(ipaddress.ip_address(i)) for i in self.ips])


def _host(address: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    host = urlsplit(address).hostname or ""
    try:
        ipaddress.ip_address(host)
        return (), (host,)
    except ValueError:
        return ((host,) if host else ()), ()


def agent_names(env: Environment, agent: Agent) -> AgentNames:
    """The exact subject alternative names of ``agent``'s certificate in ``env``."""
    dns: tuple[str, ...]
    ips: tuple[tuple[str, ...], tuple[str, ...]]
    if agent is Agent.NOMAD_SERVER:
        dns, ips = (f"server.{env.nomad.region}.nomad",), _host(env.nomad.address)
    elif agent is Agent.NOMAD_CLIENT:
        dns, ips = (f"client.{env.nomad.region}.nomad",), ((), ())
    elif agent is Agent.CONSUL_SERVER:
        dns, ips = (f"server.{env.consul.datacenter}.{CONSUL_DOMAIN}",), _host(env.consul.address)
    elif agent is Agent.CONSUL_CLIENT:
        dns, ips = (f"client.{env.consul.datacenter}.{CONSUL_DOMAIN}",), ((), ())
    else:
        dns, ips = (), _host(env.vault.address)
    all_dns = tuple(dict.fromkeys((*dns, *ips[0], "localhost")))
    all_ips = tuple(dict.fromkeys((*ips[1], "127.0.0.1")))
    return AgentNames(dns=all_dns, ips=all_ips)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_key(pem: str | bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """An EC private key from PEM; ValueError for anything else (the cluster's keys are all EC)."""
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=password)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"not an EC private key ({type(key).__name__})")
    return key


def _serial() -> int:
    return int.from_bytes(os.urandom(16), "big") >> 1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def make_ca(env: Environment, *, ttl_h: int,
            parent: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
            ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The cluster CA: self-signed, or an intermediate signed by ``parent`` (cert, key)."""
    key = new_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, f"{env.name} cluster CA ({env.domain})")]
    if env.vault.pki_ca_organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, env.vault.pki_ca_organization))
    subject = x509.Name(attrs)
    issuer_cert: x509.Certificate | None = parent[0] if parent else None
    issuer_key: ec.EllipticCurvePrivateKey = parent[1] if parent else key
    not_after = _now() + dt.timedelta(hours=ttl_h)
    if issuer_cert is not None:
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key())
               .serial_number(_serial())
               .not_valid_before(_now() - _SKEW)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public_key(issuer_cert)), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    return cert, key


def _ec_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The CA's public key; the cluster CA and any operator CA above it use EC keys."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise HashistackError(f"CA {cert.subject.rfc4514_string()!r}: public key = {type(key).__name__}: the "
                              "cluster CA and an operator CA above it use EC keys (P-256 or P-384)")
    return key


def issue_agent_cert(env: Environment, agent: Agent, *, public_key, ca_cert: x509.Certificate, ca_key,
                     ttl_h: int) -> x509.Certificate:
    names = agent_names(env, agent)
    cn = names.dns[0]
    not_after = min(_now() + dt.timedelta(hours=ttl_h), ca_cert.not_valid_after_utc)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject)
            .public_key(public_key)
            .serial_number(_serial())
            .not_valid_before(_now() - _SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(MTLS_USAGES)), critical=False)
            .add_extension(x509.SubjectAlternativeName(names.general_names()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public_key(ca_cert)), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _same_public_key(a, b) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def check_ca(cert_pem: str, key_pem: str, parent: x509.Certificate | None = None) -> str | None:
    """Why the stored CA is unusable, or None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return "is not a PEM certificate"
    try:
        key = load_key(key_pem)
    except (ValueError, TypeError):
        return "its key is not a PEM private key"
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "is not a CA certificate (basicConstraints CA:false)"
    except x509.ExtensionNotFound:
        return "is not a CA certificate (no basicConstraints)"
    if not _same_public_key(cert.public_key(), key.public_key()):
        return "does not match the stored CA key"
    if parent is not None and not _signed_by(cert, parent):
        return "is not signed by the parent CA in the settings"
    if cert.not_valid_after_utc <= _now():
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def check_agent_cert(env: Environment, agent: Agent, cert_pem: str, *, ca_cert: x509.Certificate,
                     key_pem: str | None) -> str | None:
    """Why a stored agent certificate is not what the settings ask for, or None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return "is not a PEM certificate"
    if not _signed_by(cert, ca_cert):
        return "is not signed by the cluster CA"
    want = agent_names(env, agent)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = (tuple(san.get_values_for_type(x509.DNSName)),
                tuple(str(i) for i in san.get_values_for_type(x509.IPAddress)))
    except x509.ExtensionNotFound:
        have = ((), ())
    if sorted(have[0]) != sorted(want.dns) or sorted(have[1]) != sorted(want.ips):
        return f"names {sorted(have[0] + have[1])} differ from the required {sorted(want.dns + want.ips)}"
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = set()
    if eku != set(MTLS_USAGES):
        return "extended key usage is not exactly serverAuth + clientAuth"
    if key_pem is not None:
        try:
            key = load_key(key_pem)
        except (ValueError, TypeError):
            return "its key is not a PEM private key"
        if not _same_public_key(cert.public_key(), key.public_key()):
            return "does not match its private key"
    if cert.not_valid_after_utc <= _now():
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None
