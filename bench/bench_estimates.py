"""Measured peak memory and seconds of each job kind, next to synth.core.estimates' figures.

    .venv/bin/python bench/bench_estimates.py            # adult, a few sizes per kind

Each case runs in a fresh interpreter (so `ru_maxrss` is that job's peak
resident memory, imports included) and prints one Markdown row: the case,
the measured MiB and seconds, and what `synth.core.estimates` says for the
same public facts. The constants in estimates.py are set so the estimate
stays above the measurement (memory) and within a few times of it (time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, {repo!r})
case = json.loads({case!r})
from synth.base.tableio import read_table
from synth.base.inference import infer_schema
table = read_table(Path({repo!r}) / "synth" / "demo" / "adult.csv").slice(0, case["rows"])
schema = infer_schema(table)
t0 = time.perf_counter()
if case["kind"] == "train":
    from generators import create_generator
    gen = create_generator(case["generator"], epsilon=1.0, **case.get("params", {{}}))
    gen.fit(table, schema)
    gen.save(tempfile.mkdtemp())
elif case["kind"] == "generate":
    from generators import create_generator
    gen = create_generator(case["generator"], epsilon=1.0, **case.get("params", {{}}))
    gen.fit(table, schema)
    t0 = time.perf_counter()
    n = 0
    for b in gen.sample(case["sample"], seed=1, batch_rows=100_000):
        n += b.num_rows
else:
    from generators import create_generator
    from evaluators import evaluate
    gen = create_generator("dp_marginals", epsilon=1.0)
    gen.fit(table, schema)
    synthetic = gen.sample_table(case["sample"], seed=1)
    holdout = table.slice(0, max(1, case["rows"] // 4))
    t0 = time.perf_counter()
    evaluate(synthetic, table, holdout, schema=schema, seed=0)
seconds = time.perf_counter() - t0
print(json.dumps({{"mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}}))
"""

CASES = [
    {"kind": "train", "generator": "dp_marginals", "rows": 32561},
    {"kind": "train", "generator": "aim", "rows": 3000},
    {"kind": "train", "generator": "aim", "rows": 32561},
    {"kind": "train", "generator": "dpctgan", "rows": 3000, "params": {"epochs": 2}},
    {"kind": "train", "generator": "dpctgan", "rows": 32561, "params": {"epochs": 1}},
    {"kind": "train", "generator": "dpctgan", "rows": 3000,
     "params": {"epochs": 1, "batch_size": 2000, "discriminator_dim": [1024, 1024]}},
    {"kind": "generate", "generator": "dp_marginals", "rows": 32561, "sample": 1_000_000},
    {"kind": "generate", "generator": "dpctgan", "rows": 3000, "sample": 300_000,
     "params": {"epochs": 1}},
    {"kind": "evaluate", "rows": 3000, "sample": 3000},
    {"kind": "evaluate", "rows": 32561, "sample": 32561},
]


def main() -> None:
    print("| case | peak MiB | seconds |")
    print("| --- | ---: | ---: |")
    for case in CASES:
        code = CHILD.format(repo=str(REPO), case=json.dumps(case))
        with tempfile.TemporaryDirectory():
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
        if out.returncode != 0:
            print(f"| {json.dumps(case)} | failed: {out.stderr.strip().splitlines()[-1:]} | |")
            continue
        got = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {json.dumps(case)} | {got['mib']:,.0f} | {got['seconds']:,.1f} |", flush=True)


if __name__ == "__main__":
    main()
