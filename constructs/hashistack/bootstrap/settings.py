"""The day-0 bootstrap settings live with the environment they belong to
(:mod:`hashistack.environment.bootstrap`); the bootstrap reads them from there."""

from ..environment.bootstrap import HOURS_PER_YEAR, BootstrapSettings

__all__ = ["BootstrapSettings", "HOURS_PER_YEAR"]
