"""Progress lines (stderr) and the closing summary of a bootstrap run: names and outcomes only,
never a value."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Report"]

OUTCOMES = ("created", "changed", "unchanged", "refused", "skipped")


@dataclass
class Report:
    """What a phase did to each thing it manages.

    ``created``, ``changed`` (rotated or updated), ``unchanged`` (already as wanted, or already
    done), ``refused`` (found in a shape the bootstrap will not overwrite: the detail says why and
    how to replace it deliberately), ``skipped`` (not reachable yet, the detail says why).
    """

    phase: str
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def progress(self, text: str) -> None:
        print(f"[{self.phase}] {text}", file=self.stream, flush=True)

    def note(self, name: str, outcome: str, detail: str = "") -> None:
        assert outcome in OUTCOMES, outcome
        self.entries.append((name, outcome, detail))
        self.progress(f"{name}: {outcome}" + (f" ({detail})" if detail else ""))

    def names(self, outcome: str) -> list[str]:
        return [name for name, o, _ in self.entries if o == outcome]

    @property
    def wrote_nothing(self) -> bool:
        return not self.names("created") and not self.names("changed")

    @property
    def ok(self) -> bool:
        return not self.names("refused") and not self.names("skipped")

    def summary(self) -> str:
        lines = [f"bootstrap phase {self.phase}: "
                 + ", ".join(f"{len(self.names(o))} {o}" for o in OUTCOMES)
                 + (" - no changes" if self.wrote_nothing else "")]
        for outcome in OUTCOMES:
            for name, o, detail in self.entries:
                if o == outcome and o != "unchanged":
                    lines.append(f"  {o:9} {name}" + (f": {detail}" if detail else ""))
        return "\n".join(lines)
