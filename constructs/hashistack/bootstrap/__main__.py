"""``python -m hashistack.bootstrap --env dev --phase secrets|cluster|tunnel [--rotate NAME]``.

Progress goes to stderr, the summary to stdout; names only, never values. Exit status: 0 when
everything is as wanted, 1 when something was refused (an unexpected shape, reported not
overwritten), 2 for bad input (an unknown environment, a refused setting).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..environment import Environment
from ..errors import HashistackError
from .report import Report


def _environments(module: str) -> tuple[Environment, ...]:
    envs = getattr(importlib.import_module(module), "ENVIRONMENTS", None)
    if not envs:
        raise HashistackError(f"--environments {module}: the module has no ENVIRONMENTS tuple")
    return tuple(envs)


def _aws(env: Environment):
    """boto3 clients for ``env``'s region (endpoint and credentials from the standard AWS_*
    variables, AWS_ENDPOINT_URL included), after checking the caller's account is the
    environment's."""
    import boto3

    session = boto3.Session(region_name=env.region)
    account = session.client("sts").get_caller_identity()["Account"]
    if account != env.account_id:
        raise HashistackError(f'environment "{env.name}": account_id = {env.account_id!r}: the AWS credentials '
                              f"in use belong to account {account}; use the environment's account (AWS_PROFILE)")
    return session


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hashistack.bootstrap", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, help="environment name, e.g. dev")
    p.add_argument("--phase", required=True, choices=("secrets", "cluster", "tunnel"),
                   help="secrets (before <env>-infra), cluster (after it), or tunnel: the operator's port forwards "
                        "to the APIs (hashistack.bootstrap.tunnel)")
    p.add_argument("--environments", default="stacks.environments",
                   help="module holding ENVIRONMENTS (default: stacks.environments)")
    p.add_argument("--rotate", metavar="NAME", help="phase secrets: replace this one item deliberately")
    p.add_argument("--root", default=".", help="project root for relative paths in the settings (default: .)")
    c = p.add_argument_group("phase cluster: where the APIs are (default: the environment's addresses)")
    c.add_argument("--consul-addr")
    c.add_argument("--nomad-addr")
    c.add_argument("--vault-addr")
    c.add_argument("--via-tunnel", action="store_true",
                   help="reach every API through the operator's tunnel (phase tunnel) on 127.0.0.1")
    c.add_argument("--local-ports", metavar="PRODUCT=PORT,...",
                   help="phase tunnel and --via-tunnel: the tunnel's local ports (default nomad=4646,consul=8501,"
                        "vault=8200)")
    c.add_argument("--dry-run", action="store_true", help="phase tunnel: print the session commands, open nothing")
    c.add_argument("--only", choices=("consul", "nomad", "vault"), action="append",
                   help="run only these steps (repeatable; default all three)")
    c.add_argument("--vault-apply", metavar="COMMAND",
                   help="the first apply of <env>-vault, run with VAULT_ADDR, VAULT_TOKEN (the initial root token) "
                        "and VAULT_CACERT set; {stack} is replaced by the stack name "
                        "(default: cdktf deploy {stack} --auto-approve)")
    c.add_argument("--vault-operator", metavar="NAME",
                   help="development only: create this userpass operator (platform-operator) before the root token "
                        "is revoked, password from HASHISTACK_VAULT_OPERATOR_PASSWORD, and log in as it afterwards")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sys.path.insert(0, str(Path(args.root).resolve()))
    report = Report(args.phase)
    try:
        envs = {e.name: e for e in _environments(args.environments)}
        env = envs.get(args.env)
        if env is None:
            raise HashistackError(f"--env {args.env}: no such environment; choose one of {', '.join(envs)}")
        session = _aws(env)
        from .store import ParameterStore

        store = ParameterStore(session.client("ssm"), kms_key_id=env.bootstrap.ssm_kms_key_id, tags=env.tags)
        if args.phase == "secrets":
            from .phase_secrets import run_secrets

            run_secrets(env, store, report, rotate=args.rotate, root=Path(args.root).resolve())
        elif args.phase == "tunnel":
            from . import tunnel

            return tunnel.run(env, session, tunnel.local_ports(args.local_ports),
                              ca_file=tunnel.write_cluster_ca(env, store), dry_run=args.dry_run)
        else:
            if args.rotate:
                raise HashistackError("--rotate applies to phase secrets only")
            from .phase_cluster import Endpoints, run_cluster

            if args.local_ports and not args.via_tunnel:
                raise HashistackError("--local-ports applies to phase tunnel and to --via-tunnel; add --via-tunnel "
                                      "(make bootstrap ... TUNNEL=1)")
            for flag, value in (("--consul-addr", args.consul_addr), ("--nomad-addr", args.nomad_addr),
                                ("--vault-addr", args.vault_addr)):
                if value is not None and not value.startswith(("https://", "http://")):
                    raise HashistackError(f"{flag} {value}: give a URL, e.g. https://127.0.0.1:8200")
            through: dict[str, str] = {}
            if args.via_tunnel:
                from .tunnel import local_ports, wait_open

                ports = local_ports(args.local_ports)
                wait_open(ports)
                through = {p: f"https://127.0.0.1:{port}" for p, port in ports.items()}
            endpoints = Endpoints.of(env, consul=args.consul_addr or through.get("consul"),
                                     nomad=args.nomad_addr or through.get("nomad"),
                                     vault=args.vault_addr or through.get("vault"))
            run_cluster(env, store, report, endpoints=endpoints, only=tuple(args.only or ()),
                        vault_apply=args.vault_apply, vault_operator=args.vault_operator, root=Path(args.root).resolve())
    except HashistackError as e:
        print(f"error: {e}", file=sys.stderr)
        if report.entries:
            print(report.summary())
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
