"""Where the real-engine tests and `make doctor` find terraform and the offline AWS provider
mirror (the environment wins, then the usual places). Standard library only: `make doctor` runs
it before .venv exists.

- terraform: ``$TERRAFORM``, else ``terraform`` on PATH;
- the provider mirror: ``$TF_PROVIDER_MIRROR``, else ``/opt/tf-plugins``; it must hold
  ``registry.terraform.io/hashicorp/aws/<AWS_PROVIDER_VERSION>/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

AWS_PROVIDER_VERSION = "5.100.0"
MIRROR_VARIABLE, MIRROR_DEFAULT = "TF_PROVIDER_MIRROR", "/opt/tf-plugins"


def terraform_binary() -> str | None:
    return os.environ.get("TERRAFORM") or shutil.which("terraform")


def provider_mirror() -> Path | None:
    for candidate in (os.environ.get(MIRROR_VARIABLE), MIRROR_DEFAULT):
        if candidate and (Path(candidate) / "registry.terraform.io/hashicorp/aws" / AWS_PROVIDER_VERSION).is_dir():
            return Path(candidate)
    return None
