"""Small predicates shared by the models' validation."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_RFC1123_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_MOUNT_PATH = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")

RFC1123_HINT = "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
MOUNT_HINT = "use lowercase letters, digits, '-' and '_' in '/'-separated segments, with no leading or trailing '/'"


def is_rfc1123_label(value: object) -> bool:
    return isinstance(value, str) and bool(_RFC1123_LABEL.fullmatch(value))


def is_dns_name(value: object) -> bool:
    return isinstance(value, str) and bool(_DNS_NAME.fullmatch(value))


def is_mount_path(value: object) -> bool:
    return isinstance(value, str) and bool(_MOUNT_PATH.fullmatch(value))


def is_container_path(value: object) -> bool:
    """An absolute, normalised container path of printable characters without whitespace."""
    return (isinstance(value, str) and value.startswith("/") and value == value.strip()
            and all(c.isprintable() and not c.isspace() for c in value))


def parse_network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network a CIDR string denotes, or None when it is not a valid, host-bits-free CIDR."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def is_world(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """True for 0.0.0.0/0 and ::/0 (and any other prefix of length 0)."""
    return network.prefixlen == 0


def url_problem(value: object, *, allow_http: bool) -> str | None:
    """Why ``value`` is not a usable API address, or None when it is."""
    if not isinstance(value, str):
        return "must be a URL string such as https://nomad.example.internal:4646"
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return f"must use {' or '.join(schemes)}://"
    if not parts.hostname:
        return "must name a host, e.g. https://vault.example.internal:8200"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be scheme://host[:port] with no path, query or fragment"
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return "has an invalid port"
    return None
