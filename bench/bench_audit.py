"""One-run canary audits of each generator and their power controls (issue 11).

    .venv/bin/python -m bench audit                        # every plan: about 4 minutes on 2 cores
    .venv/bin/python bench/bench_audit.py --plans dp_marginals-eps1 aim-eps4
    .venv/bin/python bench/bench_audit.py --seed 7         # the same plans, other coin flips

For each plan in tests/audit/canary.py (`PLANS`): m canaries, each inserted
into a slice of synth/demo/adult.csv with probability 1/2, one fit, every
canary scored by its token's count in a large synthetic sample, guesses
"in" for the k₊ highest scores, and the number of correct guesses turned
into a 95 % lower bound on ε (Steinke, Nasr & Jagielski 2023, Theorem 5.2,
δ as claimed). Three outputs per plan, same canaries, coin flips and guesses:

- generator: the generator as it is; its bound must stay at or below the claim;
- copy: the training table itself as the "synthetic" output (no privacy);
- noise ÷ 4: the generator with its noise calibration divided by 4 for the fit
  (it still reports the claimed ε; in truth ρ × 16).

The two controls must pass the claim, or the audit has no power at that
scale. DP-CTGAN has no noise ÷ 4 row: its DP-SGD noise is not calibrated by
the count mechanisms' functions that the control patches. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.audit.canary import PLANS, AuditPlan, AuditRun, canary_table, run_audit  # noqa: E402

OUTPUTS = (("generator", 1.0), ("copy", 1.0), ("noise ÷ 4", 4.0))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def audit_plan(plan: AuditPlan) -> list[AuditRun]:
    ct = canary_table(plan)
    runs = []
    for name, factor in OUTPUTS:
        if factor != 1.0 and plan.kind == "dpctgan":
            continue
        output = "copy" if name == "copy" else "generator"
        run = run_audit(plan, output=output, noise_factor=factor, canaries=ct)
        runs.append(replace(run, output=name))
        print(f"  {plan.label} {name}: {run.result}", file=sys.stderr, flush=True)
    return runs


def verdict(run: AuditRun) -> str:
    above = run.result.epsilon_lower > run.plan.epsilon
    if run.output == "generator":
        return "holds" if not above else "**VIOLATED**"
    if run.noise_cuts == 0:
        return "**patch unused**"
    return "caught" if above else "**not caught**"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--plans", nargs="*", help=f"labels: {', '.join(p.label for p in PLANS.values())}"
    )
    parser.add_argument("--seed", type=int, help="replace every plan's seed (the coin flips)")
    args = parser.parse_args()
    plans = [p for p in PLANS.values() if not args.plans or p.label in args.plans]
    if args.seed is not None:
        plans = [replace(p, seed=args.seed) for p in plans]
    start = time.perf_counter()
    rows = []
    for plan in plans:
        rows += audit_plan(plan)
    total = time.perf_counter() - start

    print(
        "| generator | claimed ε (δ) | output | canaries m | guesses (k₊ + k₋) | correct | ε lower bound (95 %) | verdict | fit s | score s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|")
    for run in rows:
        p, r = run.plan, run.result
        print(
            f"| {p.kind} | {p.epsilon:g} ({p.delta:g}) | {run.output} | {r.m:,} | "
            f"{r.guesses:,} ({r.k_pos:,} + {r.k_neg:,}) | {r.correct:,} | {r.epsilon_lower:.2f} | "
            f"{verdict(run)} | {run.fit_seconds:.1f} | {run.score_seconds:.1f} |"
        )
    print()
    for run in rows:
        if run.noise_cuts is not None:
            print(
                f"- {run.plan.label}, {run.output}: noise cut through {run.noise_cut_by} "
                f"({run.noise_cuts} calls)"
            )
    for plan in plans:
        extra = ", ".join(f"{k}={v}" for k, v in plan.params) or "defaults"
        print(
            f"- {plan.label}: base = first {plan.base_rows:,} rows of adult.csv, carriers "
            f"{', '.join(plan.carriers)}; {plan.sample_rows:,} rows sampled to score; "
            f"seed {plan.seed}; generator parameters: {extra}"
        )
    print(
        f"\n`{' '.join(['python -m bench audit', *sys.argv[1:]])}` · {total:.0f} s in all · "
        f"nproc {nproc()} · {cpu_model()} · Python {platform.python_version()} · "
        f"numpy {np.__version__}"
    )
    bad = [r for r in rows if verdict(r).startswith("**")]
    return 1 if bad else 0


if __name__ == "__main__":
    if code := main():  # a violated claim or a control without power: fail the run
        raise SystemExit(code)
