"""What a task does when a file rendered for it changes: shared by config files, secrets and TLS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["OnChange"]


@dataclass(frozen=True)
class OnChange:
    """What happens when a rendered file changes while the task runs (it is always rendered
    before the task starts): ``OnChange.restart()``, ``OnChange.signal("SIGHUP")`` or
    ``OnChange.noop()``."""

    mode: Literal["restart", "signal", "noop"]
    change_signal: str | None = None

    @staticmethod
    def restart() -> "OnChange":
        return OnChange("restart")

    @staticmethod
    def signal(signal: str = "SIGHUP") -> "OnChange":
        return OnChange("signal", signal)

    @staticmethod
    def noop() -> "OnChange":
        return OnChange("noop")

    def template_fields(self) -> dict:
        """The Nomad template's ``change_mode``/``change_signal``."""
        return {"change_mode": self.mode, "change_signal": self.change_signal}
