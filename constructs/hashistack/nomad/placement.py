"""Where the scheduler may put a group: spreads and constraints."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Checker
from ._base import _is_int

__all__ = ["Constraint", "Spread"]

@dataclass(frozen=True, kw_only=True)
class Spread:
    """Spread allocations evenly over the values of a node attribute (e.g. the AZ)."""

    attribute: str
    weight: int = 100

    def _api(self) -> dict:
        return {"Attribute": self.attribute, "Weight": self.weight}

    def _validate(self, check: Checker) -> None:
        # nomad/structs/structs.go, Spread.Validate: "a positive weight from 0 to 100".
        check.require(_is_int(self.weight) and 1 <= self.weight <= 100, "weight", self.weight, "use 1 to 100")
        check.require(isinstance(self.attribute, str) and bool(self.attribute), "attribute", self.attribute,
                      "name a node attribute, e.g. '${attr.platform.aws.placement.availability-zone}'")


@dataclass(frozen=True, kw_only=True)
class Constraint:
    """Restrict placement: ``attribute operator value`` (e.g. ``${attr.kernel.name} = linux``)."""

    attribute: str
    value: str
    operator: str = "="

    def _api(self) -> dict:
        return {"LTarget": self.attribute, "RTarget": self.value, "Operand": self.operator}
