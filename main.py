#!/usr/bin/env python
"""The cdktf app entry point: `npx cdktf synth` (or `make synth`) runs this.

Bad input stops the synth with a ``HashistackError``: its one-line message (where, field, value,
fix) is printed once on stderr and the process exits 1. ``HASHISTACK_DEBUG=1`` shows the full
traceback instead.
"""

from __future__ import annotations

import os
import sys

from hashistack.errors import HashistackError

DEBUG_VARIABLE = "HASHISTACK_DEBUG"


def hashistack_error(error: BaseException | None) -> HashistackError | None:
    """The HashistackError that caused ``error``, following ``raise ... from`` and implicit chaining."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, HashistackError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def main() -> int:
    try:
        from stacks.app import build_app  # environments are validated as they are imported

        build_app().synth()
    except Exception as error:
        cause = hashistack_error(error)
        if cause is None or debug():
            raise
        print(f"error: {cause}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
