"""Rotation of the task's stdout/stderr logs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Logs"]


@dataclass(frozen=True, kw_only=True)
class Logs:
    """Rotation of the task's stdout/stderr logs. Defaults to 10 files of 10 MiB."""

    max_files: int = 10
    max_file_size_mib: int = 10
