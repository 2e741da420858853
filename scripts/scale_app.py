"""A synthetic app for the benchmark: N generated GoServices in each environment's service stack.

    python scripts/scale_app.py N OUTDIR
"""

from __future__ import annotations

import sys

from cdktf import App

from hashistack.service import ConfigFile, GoService, HealthCheck, ServiceSpec, Tls, VaultSecret
from hashistack.stack import EnvironmentStack
from stacks.environments import ENVIRONMENTS


def build(n: int, outdir: str) -> App:
    app = App(outdir=outdir)
    for env in ENVIRONMENTS:
        stack = EnvironmentStack(app, env.name, environment=env)
        stack.add_nomad_provider()
        stack.add_vault_provider()
        for i in range(n):
            name = f"svc-{i:04d}"
            GoService(stack, ServiceSpec(
                name=name,
                image=f"registry.example.com/bench/{name}:1.0.{i}",
                count=3 if env.is_production else 1,
                config_files=(ConfigFile.inline(f"name = {name}\n", mount_at="/app/config/app.conf"),),
                secrets=(VaultSecret.kv(f"{name}/config", mount_at="/app/config/secrets.json"),),
                tls=Tls(mount_dir="/app/tls"),
                health=HealthCheck.http("/health", tls="skip-verify"),
                env={"LOG_LEVEL": "info"},
            ))
    return app


if __name__ == "__main__":
    build(int(sys.argv[1]), sys.argv[2]).synth()
