"""The one error type the library raises for bad input, and the checker that words it.

Every message has the same shape so that a reader can act on it without opening the code::

    environment "prod": nomad.server_count = 4: a production environment needs 3 or 5 servers

that is: where (the environment or construct path), the field, the value received, and what
would be accepted.
"""

from __future__ import annotations

from typing import Any, NoReturn


class HashistackError(ValueError):
    """Bad input to a hashistack model or construct, raised at synth time."""


class Checker:
    """Raises :class:`HashistackError` messages that name where, the field, the value and the fix.

    ``where`` says what is being validated (``environment "prod"``, ``dev/my-go-app``);
    ``prefix`` is the dotted path of the nested settings object being checked.
    """

    __slots__ = ("where", "prefix")

    def __init__(self, where: str, prefix: str = "") -> None:
        self.where = where
        self.prefix = prefix

    def child(self, name: str) -> "Checker":
        """A checker for a nested settings object, its fields reported as ``name.field``."""
        return Checker(self.where, f"{self.prefix}{name}.")

    def fail(self, field: str, value: Any, fix: str) -> NoReturn:
        raise HashistackError(f"{self.where}: {self.prefix}{field} = {value!r}: {fix}")

    def require(self, ok: bool, field: str, value: Any, fix: str) -> None:
        if not ok:
            self.fail(field, value, fix)
