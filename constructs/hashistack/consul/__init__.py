"""Consul building blocks.

Model (plain Python): :class:`Upstream` (a service a service calls through Connect) and
:func:`intentions_for` (the service-to-service allow list derived from declared upstreams,
default deny). Construct (loaded on first use): :class:`ServiceIntentions`.
"""

from typing import Any

from .intentions import DEFAULT_DENY, Intentions, Upstream, intentions_for

__all__ = ["DEFAULT_DENY", "Intentions", "ServiceIntentions", "Upstream", "intentions_for"]


def __getattr__(name: str) -> Any:
    if name == "ServiceIntentions":
        from .constructs import ServiceIntentions

        return ServiceIntentions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
