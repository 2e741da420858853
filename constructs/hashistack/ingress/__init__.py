"""The ingress tier's proxy: Traefik as the Nomad job ``ingress-proxy``, routing each service's
``ingress=`` host and path to it through the mesh.

Plain Python: :func:`ingress_routes` turns the services' declarations into :class:`Route` s,
:mod:`~hashistack.ingress.traefik` renders Traefik's configuration from them, and
:func:`proxy_spec` makes the proxy a :class:`~hashistack.service.ServiceSpec` that the
environment's catalogue (:class:`~hashistack.catalogue.EnvironmentServices`) plans and its
service stack deploys like any service.
"""

from .proxy import PROXY_USER, STATIC_FILE, proxy_spec
from .routes import (LOCAL_PORT_BASE, LOCAL_PORT_CEILING, PROXY_NAME, Route, ingress_routes, routes_of,
                     stable_port)
from .traefik import TRAEFIK_IMAGE, TRAEFIK_VERSION, TraefikPaths, dynamic_config, render_yaml, static_config

__all__ = [
    "LOCAL_PORT_BASE",
    "LOCAL_PORT_CEILING",
    "PROXY_NAME",
    "PROXY_USER",
    "Route",
    "STATIC_FILE",
    "TRAEFIK_IMAGE",
    "TRAEFIK_VERSION",
    "TraefikPaths",
    "dynamic_config",
    "ingress_routes",
    "proxy_spec",
    "render_yaml",
    "routes_of",
    "stable_port",
    "static_config",
]
