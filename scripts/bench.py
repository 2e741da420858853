#!/usr/bin/env python
"""Benchmarks: what a synth costs, its floor, and how cost grows with the number of services.

    python scripts/bench.py [--reps 3] [--json bench-results.json] [--skip-make-test]

Each measurement runs in a fresh process (as `cdktf synth` does); rounds alternate between the
measurements and the median of ``--reps`` rounds is reported. "One service stack" is the same
app run with ``HASHISTACK_STACKS`` naming the production environment's service stack, as
`make deploy ENV=prod` runs it. Peak memory is the largest sum of resident memory over the
process tree (Python and the jsii Node runtime), sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from plan_report import SYNTH_CODE, app_env  # noqa: E402  (scripts/ is this script's own folder)

sys.path.insert(0, str(ROOT))
from stacks.environments import ENVIRONMENTS  # noqa: E402  (plain Python: loads no jsii)

STACKS_VARIABLE = "HASHISTACK_STACKS"  # read by stacks/app.py

SERVICE_STACK = next(env for env in ENVIRONMENTS if env.is_production).stack_names[-1]
SCALE_N = (1, 10, 50, 200)
TARGETS = {"synth_over_floor": 1.3, "service_stack_over_synth": 0.25, "ms_per_service_env": 20.0,
           "peak_mib_at_200": 1536.0, "make_test_s": 180.0}

# the providers as the app loads them: hashistack first, so each package loads only the submodules
# named (hashistack.provider_packages); without it, importing one submodule imports all 2,135 of AWS
FLOOR_CODE = ("import hashistack, cdktf, cdktf_cdktf_provider_nomad.provider, cdktf_cdktf_provider_vault.provider, "
              "cdktf_cdktf_provider_aws.provider")


def _tree_rss_kib(root_pid: int) -> int:
    """Resident memory of ``root_pid`` and all its descendants, in KiB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def measure(args: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak MiB of the process tree) of one command run from the project root."""
    env = {**app_env(ROOT), **(extra_env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, peak / 1024


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def run(reps: int, skip_make_test: bool) -> dict:
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cases = {"floor": [py, "-c", FLOOR_CODE], "synth": [py, "-c", SYNTH_CODE, f"{tmp}/app"],
                 "service_stack": [py, "-c", SYNTH_CODE, f"{tmp}/one"]}
        case_env = {"service_stack": {STACKS_VARIABLE: SERVICE_STACK}}
        for n in SCALE_N:
            cases[f"scale_{n}"] = [py, str(ROOT / "scripts" / "scale_app.py"), str(n), f"{tmp}/scale{n}"]
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        measure(cases["floor"])  # warm the jsii package cache and the OS file cache
        for round_ in range(reps):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                samples[name].append(measure(cases[name], case_env.get(name)))
                print(f"  round {round_ + 1}/{reps} {name}: {samples[name][-1][0]:.2f} s", file=sys.stderr)
    med = {name: statistics.median(w for w, _ in s) for name, s in samples.items()}
    peak = {name: max(m for _, m in s) for name, s in samples.items()}
    xs = [3 * n for n in SCALE_N]
    ys = [med[f"scale_{n}"] for n in SCALE_N]
    slope, intercept = linear_fit(xs, ys)
    low = (med["scale_50"] - med["scale_1"]) / (3 * 49)
    high = (med["scale_200"] - med["scale_50"]) / (3 * 150)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "reps": reps,
        "floor_s": round(med["floor"], 3),
        "synth_s": round(med["synth"], 3),
        "synth_over_floor": round(med["synth"] / med["floor"], 3),
        "synth_peak_mib": round(peak["synth"], 1),
        "service_stack": SERVICE_STACK,
        "service_stack_s": round(med["service_stack"], 3),
        "service_stack_over_synth": round(med["service_stack"] / med["synth"], 3),
        "service_stack_peak_mib": round(peak["service_stack"], 1),
        "scale": {str(n): {"synth_s": round(med[f"scale_{n}"], 3), "peak_mib": round(peak[f"scale_{n}"], 1)}
                  for n in SCALE_N},
        "ms_per_service_env": round(slope * 1000, 2),
        "fixed_s": round(intercept, 3),
        "marginal_ms_1_to_50": round(low * 1000, 2),
        "marginal_ms_50_to_200": round(high * 1000, 2),
        "superlinear": high > 1.5 * max(low, 1e-6),
        "peak_mib_at_200": round(peak["scale_200"], 1),
    }
    if not skip_make_test:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            times = Path(tmp) / "test-times.json"
            start = time.perf_counter()
            subprocess.run(["make", "test"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "HASHISTACK_TEST_TIMES": str(times)})  # written by tests/support/timing.py
            results["make_test_s"] = round(time.perf_counter() - start, 1)
            results["make_test_groups"] = json.loads(times.read_text())
    results["targets"] = {k: {"target": v, "met": (results.get(k) is not None and results[k] <= v)}
                          for k, v in TARGETS.items() if k in results}
    return results


def table(r: dict) -> str:
    rows = [
        ("floor: import cdktf + 3 providers", f"{r['floor_s']:.2f} s", ""),
        ("full synth (9 stacks)", f"{r['synth_s']:.2f} s", f"{r['synth_over_floor']:.2f}x floor (target <= 1.3x)"),
        ("full synth peak memory", f"{r['synth_peak_mib']:.0f} MiB", ""),
        (f"synth of one service stack ({r['service_stack']})", f"{r['service_stack_s']:.2f} s",
         f"{r['service_stack_over_synth']:.2f}x full synth (target <= 0.25x), "
         f"peak {r['service_stack_peak_mib']:.0f} MiB"),
    ]
    for n, s in r["scale"].items():
        rows.append((f"scale N={n} (x3 environments)", f"{s['synth_s']:.2f} s", f"peak {s['peak_mib']:.0f} MiB"))
    rows += [
        ("marginal cost per service-environment", f"{r['ms_per_service_env']:.1f} ms", "linear fit (target <= 20 ms)"),
        ("  1->50 vs 50->200", f"{r['marginal_ms_1_to_50']:.1f} / {r['marginal_ms_50_to_200']:.1f} ms",
         "superlinear!" if r["superlinear"] else "not superlinear"),
        ("peak memory at N=200", f"{r['peak_mib_at_200']:.0f} MiB", "target <= 1536 MiB"),
    ]
    if "make_test_s" in r:
        groups = r["make_test_groups"]
        rows.append(("make test (warm)", f"{r['make_test_s']:.0f} s",
                     f"target <= 180 s; pytest wall {groups['wall_s']:.0f} s on {groups['workers']} worker(s)"))
        parts = [*(("set-up: " + n, v) for n, v in groups["session_setup_s"].items()), *groups["groups_s"].items()]
        rows += [(f"  {name}", f"{seconds:.1f} s", "") for name, seconds in parts]
        rows += [(f"  integration: {name}", f"{seconds:.1f} s", "")
                 for name, seconds in groups.get("integration_s", {}).items() if seconds >= 1]
    width = max(len(a) for a, _, _ in rows)
    lines = [f"{'measurement':<{width}}  {'value':>14}  note", "-" * (width + 40)]
    lines += [f"{a:<{width}}  {b:>14}  {c}" for a, b, c in rows]
    met = ", ".join(f"{k} {'met' if v['met'] else 'MISSED'}" for k, v in r["targets"].items())
    return "\n".join(lines) + f"\n\ntargets: {met}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results.json")
    parser.add_argument("--skip-make-test", action="store_true")
    args = parser.parse_args()
    if args.reps < 3:
        parser.error("--reps: take the median of at least 3")
    results = run(args.reps, args.skip_make_test)
    print(table(results))
    args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
