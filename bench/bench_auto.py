"""The measurements behind `generator="auto"`: aim, dpctgan and dp_marginals across table shapes and ε.

    .venv/bin/python bench/bench_auto.py                 # every case below
    .venv/bin/python bench/bench_auto.py --cases metro --eps 1 10

Cases, all from ../shared/data (the bounds and category lists are declared
public, as a data owner would from a codebook; here read off the table):

- adult: 32,561 rows, 15 columns, mostly categorical.
- adult-2k: 2,000 rows of adult (seeded sample): a small table.
- metro: Metro Interstate Traffic Volume, 48,204 rows, 9 columns, mostly
  continuous (temperatures, rain, clouds, a timestamp, the volume).
- adult-wide-N: adult side by side with row-shuffled copies of itself,
  N columns in all: how each generator's time grows with the width (run at
  the smallest ε asked for only).

Per case, method and ε: fit + sample seconds (one process, these cores),
SDMetrics-equal quality and column pair trends (evaluators.fidelity agrees
with SDMetrics' QualityReport to 1e-15; see docs/bench/evaluators.md).
dpctgan trains `--dpctgan-epochs` epochs on the CPU. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluators.fidelity import fidelity  # noqa: E402
from evaluators.inputs import prepare  # noqa: E402
from generators import generator_class  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.schema import ColumnKind, TableSchema  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

DATA = Path(os.environ.get("SYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
DELTA = 1e-9


def declared_public(table: pa.Table) -> TableSchema:
    """Bounds of every number/datetime and the category lists, declared public (the codebook's)."""
    schema = infer_schema(table)
    for col in schema.columns:
        values = table.column(col.name).drop_null()
        if col.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
            if col.kind is ColumnKind.DATETIME:  # bounds are epoch seconds
                values = values.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
                lo, hi = pa.compute.min(values).as_py() / 1e6, pa.compute.max(values).as_py() / 1e6
            else:
                lo, hi = (
                    float(pa.compute.min(values).as_py()),
                    float(pa.compute.max(values).as_py()),
                )
            schema = schema.with_column(replace(col, lower=lo, upper=hi))
        elif col.kind is ColumnKind.CATEGORICAL:
            cats = tuple(sorted(str(v) for v in pa.compute.unique(values).to_pylist()))
            schema = schema.with_column(replace(col, categories=cats))
    return schema


def widened(table: pa.Table, width: int, seed: int = 0) -> pa.Table:
    """`table` beside row-shuffled copies of itself, cut to `width` columns."""
    rng = np.random.default_rng(seed)
    cols, names = list(table.columns), list(table.column_names)
    copy = 1
    while len(cols) < width:
        order = pa.array(rng.permutation(table.num_rows))
        for name in table.column_names:
            cols.append(table.column(name).take(order))
            names.append(f"{name}_{copy}")
        copy += 1
    return pa.table(cols[:width], names=names[:width])


def cases(names: list[str]) -> dict[str, pa.Table]:
    adult = read_table(DATA / "adult.csv")
    out: dict[str, pa.Table] = {}
    for name in names:
        if name == "adult":
            out[name] = adult
        elif name == "adult-2k":
            idx = np.sort(np.random.default_rng(0).choice(adult.num_rows, 2000, replace=False))
            out[name] = adult.take(pa.array(idx))
        elif name == "metro":
            out[name] = read_table(DATA / "metro_interstate_traffic_volume.csv")
        elif name.startswith("adult-wide-"):
            out[name] = widened(adult, int(name.removeprefix("adult-wide-")))
        else:
            raise SystemExit(f"unknown case {name!r}")
    return out


def run(
    kind: str, table: pa.Table, schema: TableSchema, eps: float, seed: int, epochs: int
) -> tuple[float, float, float]:
    params: dict[str, object] = {"epochs": epochs} if kind == "dpctgan" else {}
    gen = generator_class(kind)(epsilon=eps, delta=DELTA, **params)
    gen.plan(schema, table.num_rows)
    t0 = time.perf_counter()
    gen.fit(table, schema, rng=np.random.default_rng(seed))
    synthetic = gen.sample_table(table.num_rows, seed=seed)
    secs = time.perf_counter() - t0
    fid = fidelity(prepare(synthetic, table, None, schema=schema))
    return secs, fid.overall, fid.column_pair_trends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["adult", "adult-2k", "metro", "adult-wide-60"])
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--methods", default="aim,dpctgan,dp_marginals")
    ap.add_argument("--dpctgan-epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rows = []
    for name, table in cases(a.cases).items():
        schema = declared_public(table)
        # Wide tables: at the smallest ε only (their point is how time grows with width).
        for eps in a.eps[:1] if name.startswith("adult-wide-") else a.eps:
            for kind in a.methods.split(","):
                secs, q, pt = run(kind, table, schema, eps, a.seed, a.dpctgan_epochs)
                print(
                    f"{name} {kind} ε={eps:g}: {secs:.1f}s quality {q:.3f} pairs {pt:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append((name, table.num_rows, table.num_columns, kind, eps, secs, q, pt))
    print(
        f"\nδ = {DELTA:g}, seed {a.seed}, dpctgan {a.dpctgan_epochs} epochs on the CPU; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print("| table | rows | columns | method | ε | fit + sample (s) | quality | pair trends |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, n, d, kind, eps, secs, q, pt in rows:
        print(f"| {name} | {n:,} | {d} | {kind} | {eps:g} | {secs:.1f} | {q:.3f} | {pt:.3f} |")


if __name__ == "__main__":
    main()
