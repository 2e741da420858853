"""Follows the rollout of each job of a services stack and says how it ended
(hashistack.releases.watch): progress while Nomad works, the failing allocations' task events on
failure, whether Nomad reverted and to which version, and a summary. Exit code: 0 when every
rollout succeeded, else the worst of 3 (rolled back), 4 (failed), 5 (no decision in time).

    NOMAD_ADDR=https://nomad.prod.example.internal:4646 NOMAD_TOKEN=... \\
        python scripts/watch.py --env prod [JOB ...]

The jobs default to those of ``cdktf.out/stacks/<env>`` (run after ``make deploy ENV=<env>``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "constructs"))

from hashistack.releases.watch import watch, worst  # noqa: E402


def stack_jobs(outdir: Path, env: str) -> list[str]:
    """The job ids of ``env``'s services stack, as synthesized."""
    path = outdir / "stacks" / env / "cdk.tf.json"
    if not path.is_file():
        raise SystemExit(f"error: {path}: {env!r} is not synthesized: run HASHISTACK_STACKS={env} make synth, or name "
                         "the jobs (make watch ENV=... JOBS='ledger my-go-app')")
    stack = json.loads(path.read_text())
    jobs = stack.get("resource", {}).get("nomad_job", {})
    return sorted(json.loads(job["jobspec"].replace("$${", "${"))["Job"]["ID"] for job in jobs.values())


def http_get(address: str, token: str | None, ca_file: str | None):
    import requests

    session = requests.Session()
    if token:
        session.headers["X-Nomad-Token"] = token

    def get(path: str):
        try:
            response = session.get(f"{address.rstrip('/')}{path}", verify=ca_file or True, timeout=30)
        except requests.RequestException as error:  # a blip mid-watch is a poll without an answer
            return 0, f"{address} unreachable ({type(error).__name__})"
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    return get


def services_stacks(selection: str) -> list[str]:
    """The services stacks (``<env>``) among the stacks ``selection`` picks, as ``make deploy
    ENV=...`` names them (comma-separated names or globs)."""
    sys.path.insert(0, str(ROOT))
    from stacks.app import select_stacks, stack_names
    from stacks.environments import ENVIRONMENTS

    chosen = select_stacks(selection, stack_names())
    return [env.name for env in ENVIRONMENTS if env.name in chosen]


def after_deploy(selection: str, since_ns: int = 0) -> int:
    """What ``make deploy`` runs after the apply: the watch of each deployed services stack, when
    ``NOMAD_ADDR`` says where Nomad is; else a line saying how to watch."""
    stacks = services_stacks(selection)
    if not stacks:
        return 0
    if not os.environ.get("NOMAD_ADDR"):
        print(f"rollouts not watched: set NOMAD_ADDR (and NOMAD_TOKEN, NOMAD_CACERT), or run make watch ENV=<env> "
              f"for {', '.join(stacks)}")
        return 0
    return worst(main(["--env", name, "--since-ns", str(since_ns)]) for name in stacks)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--after-deploy"]:
        return after_deploy(args_in[1] if len(args_in) > 1 else "", int(args_in[2]) if len(args_in) > 2 else 0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True)
    parser.add_argument("--outdir", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--since-ns", type=int, default=0,
                        help="when the deploy began (Unix ns): jobs not submitted since are unchanged")
    parser.add_argument("jobs", nargs="*")
    args = parser.parse_args(args_in)
    address = os.environ.get("NOMAD_ADDR")
    if not address:
        print("error: NOMAD_ADDR is not set: the Nomad API to watch (as for make deploy)", file=sys.stderr)
        return 1
    jobs = args.jobs or stack_jobs(args.outdir, args.env)
    get = http_get(address, os.environ.get("NOMAD_TOKEN"), os.environ.get("NOMAD_CACERT"))
    outcomes = [watch(get, job, since_ns=args.since_ns, timeout_s=args.timeout, poll_s=args.poll,
                      say=lambda line: print(line, flush=True)) for job in jobs]
    print("\nrollouts:")
    for outcome in outcomes:
        print(f"  {outcome.summary()}")
        for failure in outcome.failures:
            print(f"    {failure}")
    return worst(o.exit_code for o in outcomes)


if __name__ == "__main__":
    sys.exit(main())
