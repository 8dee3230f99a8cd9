"""dp_marginals fit and sample speed on UCI Adult, with quality, against same-run references.

    .venv/bin/python bench/bench_dp_marginals.py                 # ε ∈ {1, 3} and non-DP
    .venv/bin/python bench/bench_dp_marginals.py --eps 1 --rows 1000000 --repeats 5

On adult.csv with the inferred schema (no declared bounds or categories, so
DP bounds and DP category selection are paid for, as in the service's
default path). Per ε: fit seconds (median of `--repeats`), sampling
`--rows` rows streamed into a Parquet file (synth.base.atomic.write_parquet_atomic)
and rows/s; SDMetrics QualityReport (column shapes, pair trends) of 16,281
synthetic rows against adult.csv. References measured in the same run:
reading adult.csv (fit / read), writing the same number of real rows
(bootstrapped from adult.csv) with the same Parquet writer (sample / write),
and adult_test.csv, a real holdout of the same size, scored like a synthetic
table (the quality ceiling). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generators import DPMarginals  # noqa: E402
from synth.base.atomic import write_parquet_atomic  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.schema import ColumnKind, TableSchema  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

DATA = Path(os.environ.get("SYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
QUALITY_ROWS = 16_281  # the size of adult_test.csv, so the real reference is like for like


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall seconds over `repeats` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def quality(real: pa.Table, synthetic: pa.Table, schema: TableSchema) -> tuple[float, float, float]:
    """SDMetrics QualityReport: (overall, column shapes, column pair trends)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        sdtype = {
            ColumnKind.NUMERICAL: "numerical",
            ColumnKind.CATEGORICAL: "categorical",
            ColumnKind.BOOLEAN: "boolean",
            ColumnKind.DATETIME: "datetime",
        }
        metadata = {"columns": {c.name: {"sdtype": sdtype[c.kind]} for c in schema.modelled()}}
        report = QualityReport()
        report.generate(real.to_pandas(), synthetic.to_pandas(), metadata, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
        return (
            float(report.get_score()),
            float(props["Column Shapes"]),
            float(props["Column Pair Trends"]),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eps", default="1,3", help="comma-separated ε values (default 1,3)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows to sample to Parquet")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    ap.add_argument("--no-quality", action="store_true", help="skip the SDMetrics scores")
    args = ap.parse_args()
    epsilons: list[float | None] = [float(e) for e in args.eps.split(",")] + [None]

    read_s, table = timed(lambda: read_table(DATA / "adult.csv"), args.repeats)
    assert isinstance(table, pa.Table)
    holdout = read_table(DATA / "adult_test.csv")
    schema = infer_schema(table)
    real_rows = table.take(np.random.default_rng(0).integers(0, table.num_rows, args.rows))

    rows_out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.parquet"
        write_s, _ = timed(
            lambda: write_parquet_atomic(path, real_rows, schema.arrow_schema()), args.repeats
        )
        ref_quality = None if args.no_quality else quality(table, holdout, schema)
        for eps in epsilons:

            def fit(eps: float | None = eps) -> DPMarginals:
                gen = DPMarginals(epsilon=eps)
                gen.fit(table, schema, rng=np.random.default_rng(0))
                return gen

            fit_s, gen = timed(fit, args.repeats)
            assert isinstance(gen, DPMarginals)

            def sample(gen: DPMarginals = gen) -> int:
                return write_parquet_atomic(
                    path, gen.sample(args.rows, seed=7), schema.arrow_schema()
                )

            sample_s, _ = timed(sample, args.repeats)
            q = (
                None
                if args.no_quality
                else quality(table, gen.sample_table(QUALITY_ROWS, seed=1), schema)
            )
            spent = gen.privacy.epsilon if gen.privacy else None
            rows_out.append((eps, spent, fit_s, sample_s, q))

    print(
        f"machine: {platform.node()} · {os.cpu_count()} CPUs · {platform.processor() or platform.machine()}"
        f" · Python {platform.python_version()} · numpy {np.__version__} · pyarrow {pa.__version__}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"data: adult.csv {table.num_rows:,} rows × {table.num_columns} columns; "
        f"sample {args.rows:,} rows to Parquet (zstd); median of {args.repeats}\n"
    )
    print(
        "| ε target | ε spent | fit s | fit rows/s | fit / read CSV | sample+write s | rows/s "
        "| sample / write real | quality | column shapes | pair trends | quality / real holdout |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for eps, spent, fit_s, sample_s, q in rows_out:
        qs = (
            ["–"] * 4
            if q is None or ref_quality is None
            else [f"{q[0]:.3f}", f"{q[1]:.3f}", f"{q[2]:.3f}", f"{q[0] / ref_quality[0]:.2f}"]
        )
        print(
            f"| {'none (non-DP)' if eps is None else eps} | "
            f"{'–' if spent is None else f'{spent:.4f}'} | {fit_s:.3f} | "
            f"{table.num_rows / fit_s:,.0f} | {fit_s / read_s:.2f} | {sample_s:.3f} | "
            f"{args.rows / sample_s:,.0f} | {sample_s / write_s:.2f} | " + " | ".join(qs) + " |"
        )
    ref = (
        "–"
        if ref_quality is None
        else (f"{ref_quality[0]:.3f} (shapes {ref_quality[1]:.3f}, pairs {ref_quality[2]:.3f})")
    )
    print(
        f"\nreferences: read adult.csv {read_s:.3f} s; write {args.rows:,} real rows "
        f"{write_s:.3f} s ({args.rows / write_s:,.0f} rows/s); real holdout quality {ref}"
    )


if __name__ == "__main__":
    pd.set_option("mode.copy_on_write", True)
    main()
