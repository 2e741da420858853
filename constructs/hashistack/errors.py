"""The one error type the library raises for bad input, and the checker that words it.

Every message has the same shape so that a reader can act on it without opening the code::

    environment "prod": nomad.server_count = 4: a production environment needs 3 or 5 servers

that is: where (the environment or construct path), the field, the value received, and what
would be accepted.
"""

from __future__ import annotations

from typing import Any, NoReturn


class HashistackError(ValueError):
    """Bad input to a hashistack model or construct, raised at synth time.

    The message is always one printable line: a newline, tab or control character that came in
    with the user's input (a name written ``"web\\n"``, a path in a field's label) is shown
    escaped, as Python writes it, so the line says what was received and cannot be broken or
    forged by it."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as its escape (``\\n``, ``\\x1f``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


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
