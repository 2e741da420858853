"""Patterns the environment's settings share."""

from __future__ import annotations

import re

from ..errors import Checker


_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


_ACCOUNT = re.compile(r"^\d{12}$")


_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


def _check_instance_type(check: Checker, value: object) -> None:
    check.require(isinstance(value, str) and bool(_INSTANCE_TYPE.fullmatch(value)), "instance_type", value,
                  "use an EC2 instance type such as 'm6i.large'")
