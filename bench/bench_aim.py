"""AIM side by side: ours, the reference (`mbi`), dp_marginals, dpctgan, and real data as the ceiling.

    .venv/bin/python bench/bench_aim.py                       # ε ∈ {1, 3}, every method found
    .venv/bin/python bench/bench_aim.py --eps 1 --methods aim,mbi

On adult.csv (train) and adult_test.csv (test), with the adult domain
declared public (bounds of the six numbers, the category sets) and δ = 1e-9:
fit + sample seconds, SDMetrics quality and column pair trends (synthetic vs
train), and train-on-synthetic / test-on-real accuracy and F1 (income > 50K)
of one gradient-boosted classifier. The reference runs in its own virtualenv
(`--mbi-python`, default /tmp/mbi-venv/bin/python; see
bench/aim_reference_mbi.py); it is skipped with a note when that is missing.
`mbi` is given our aim's discretised codes and the ρ left for the rounds, so
the two differ only in the rounds and the estimation; `mbi-80bins` runs it on
its own 80 equal-width bins instead. Prints a Markdown table, times as ratios
to the reference too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generators import generator_class  # noqa: E402
from synth.base.errors import InvalidArgument  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.randomness import RandomStreams  # noqa: E402
from synth.base.schema import ColumnKind, TableSchema  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

DATA = Path(os.environ.get("SYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET, POSITIVE = "income", ">50K"
#: The adult domain from its codebook (adult.names): public facts, not measured.
BOUNDS = {
    "age": (17, 90),
    "fnlwgt": (12285, 1484705),
    "education_num": (1, 16),
    "capital_gain": (0, 99999),
    "capital_loss": (0, 4356),
    "hours_per_week": (1, 99),
}


def public_schema(df: pd.DataFrame, inferred: TableSchema) -> TableSchema:
    s = inferred
    for col in inferred.columns:
        if col.name in BOUNDS:
            lo, hi = BOUNDS[col.name]
            s = s.with_column(replace(col, lower=lo, upper=hi))
        elif col.kind is ColumnKind.CATEGORICAL:
            s = s.with_column(
                replace(col, categories=tuple(sorted(df[col.name].dropna().unique())))
            )
    return s


def quality(real: pd.DataFrame, synth: pd.DataFrame) -> tuple[float, float]:
    from sdmetrics.reports.single_table import QualityReport

    meta = {
        "columns": {
            c: {"sdtype": "numerical" if c in BOUNDS else "categorical"} for c in real.columns
        }
    }
    rep = QualityReport()
    rep.generate(real, synth[real.columns], meta, verbose=False)
    props = rep.get_properties().set_index("Property")["Score"]
    return float(rep.get_score()), float(props["Column Pair Trends"])


def tstr(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """Accuracy and F1 (income > 50K) on the real test set of a classifier fitted on `train`."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, f1_score

    feats = [c for c in train.columns if c != TARGET]
    cats = [c for c in feats if c not in BOUNDS]

    def prep(df: pd.DataFrame) -> pd.DataFrame:
        out = df[feats].copy()
        for c in cats:
            out[c] = pd.Categorical(
                out[c].astype("string"), categories=sorted(test[c].dropna().unique())
            )
        for c in feats:
            if c not in cats:
                out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        return out

    y = (train[TARGET].astype("string") == POSITIVE).fillna(False).to_numpy(dtype=bool)
    y_test = (test[TARGET] == POSITIVE).to_numpy()
    if y.all() or not y.any():
        pred = np.full(len(test), bool(y.any()))
    else:
        clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        pred = clf.fit(prep(train), y).predict(prep(test))
    return float(accuracy_score(y_test, pred)), float(f1_score(y_test, pred, zero_division=0.0))


def run_ours(
    kind: str, table, schema, eps: float, seed: int, **params: object
) -> tuple[pd.DataFrame, float]:
    gen = generator_class(kind)(epsilon=eps, delta=1e-9, **params)
    gen.plan(schema, table.num_rows)
    t0 = time.perf_counter()
    gen.fit(table, schema, rng=np.random.default_rng(seed))
    synth = gen.sample_table(table.num_rows, seed=seed).to_pandas()
    return synth, time.perf_counter() - t0


def _reference(python: str, *args: str) -> dict:
    """Run bench/aim_reference_mbi.py in the mbi virtualenv; its JSON line (fit and sample seconds)."""
    cmd = [python, str(REPO / "bench" / "aim_reference_mbi.py"), *args]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_mbi(python: str, spec: dict, eps: float, seed: int, n: int) -> tuple[pd.DataFrame, float]:
    """The reference on its own 80 equal-width bins (`--methods mbi-80bins`)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out = Path(tmp) / "spec.json", Path(tmp) / "synth.csv"
        spec_path.write_text(json.dumps(spec))
        info = _reference(
            python, "--data", str(DATA / "adult.csv"), "--spec", str(spec_path),
            "--epsilon", str(eps), "--delta", "1e-9", "--seed", str(seed), "--rows", str(n),
            "--out", str(out),
        )  # fmt: skip
        return pd.read_csv(out), info["fit_s"] + info["sample_s"]


def run_mbi_shared(python: str, table, schema, eps: float, seed: int) -> tuple[pd.DataFrame, float]:
    """The reference's rounds and estimation on our aim's discretisation (same codes, same ρ)."""
    from generators.aim import AIM
    from generators.privacy import ZCDPBudget

    n = table.num_rows
    gen = AIM(epsilon=eps, delta=1e-9)
    t0 = time.perf_counter()
    delta = gen.resolved_delta(n)
    assert delta is not None
    split = gen._split(schema, n, eps, delta)
    budget = ZCDPBudget(eps, delta, selection_delta=split.selection_delta)
    rng = np.random.default_rng(seed)
    noise = RandomStreams.from_rng(rng).child("noise")
    coders, codes = gen.discretise(table, schema, split, budget, noise.child("discretise"))
    with tempfile.TemporaryDirectory() as tmp:
        given, out = Path(tmp) / "codes.npz", Path(tmp) / "synthetic.npy"
        np.savez(
            given,
            codes=codes,
            sizes=[c.size for c in coders],
            names=[c.name for c in coders],
            rho=split.rho_rounds,
        )
        _reference(
            python, "--codes", str(given), "--seed", str(seed), "--rows", str(n), "--out", str(out)
        )
        synth_codes = np.load(out)
    from generators.columns import cast_columns

    decoded = {c.name: c.decode(synth_codes[:, i], rng) for i, c in enumerate(coders)}
    # As AIM.sample does: back to the source's types (integers rounded, etc.).
    frame = cast_columns(decoded, schema, schema.arrow_schema()).to_pandas()
    return frame, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--methods", default="aim,mbi,dp_marginals,dpctgan")
    ap.add_argument("--mbi-python", default="/tmp/mbi-venv/bin/python")
    ap.add_argument("--dpctgan-epochs", type=int, default=20)
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds for aim and dp_marginals (means reported); mbi and dpctgan use the first",
    )
    ap.add_argument(
        "--slow-seeds",
        type=int,
        default=1,
        help="how many of --seeds mbi and dpctgan run (default 1: they take minutes to an hour)",
    )
    a = ap.parse_args()
    table = read_table(DATA / "adult.csv")
    real = table.to_pandas()
    test = read_table(DATA / "adult_test.csv").to_pandas()
    schema = public_schema(real, infer_schema(table))
    spec = {
        c.name: {"lower": c.lower, "upper": c.upper, "integer": c.is_integer}
        if c.has_public_bounds
        else {"categories": list(c.categories or ())}
        for c in schema.columns
    }
    rows: list[tuple[str, str, float | None, float, float, float, float]] = []
    acc, f1 = tstr(real, test)
    q, pt = quality(real, test)
    rows.append(("real data (ceiling)", "-", None, q, pt, acc, f1))
    methods = a.methods.split(",")
    for eps in a.eps:
        for m in methods:
            # The slow ones (minutes a run) on the first seed only.
            slow = m.startswith("mbi") or m == "dpctgan"
            seeds = a.seeds[: a.slow_seeds] if slow else a.seeds
            scores = []
            for seed in seeds:
                try:
                    if m == "mbi":
                        if not Path(a.mbi_python).exists():
                            print(f"skipping mbi: {a.mbi_python} not found", file=sys.stderr)
                            break
                        synth, secs = run_mbi_shared(a.mbi_python, table, schema, eps, seed)
                    elif m == "mbi-80bins":
                        if not Path(a.mbi_python).exists():
                            print(f"skipping mbi: {a.mbi_python} not found", file=sys.stderr)
                            break
                        synth, secs = run_mbi(a.mbi_python, spec, eps, seed, table.num_rows)
                    else:
                        params = {"epochs": a.dpctgan_epochs} if m == "dpctgan" else {}
                        synth, secs = run_ours(m, table, schema, eps, seed, **params)
                except InvalidArgument as exc:
                    print(f"skipping {m}: {exc}", file=sys.stderr)
                    break
                except subprocess.CalledProcessError as exc:
                    tail = (exc.stderr or "").strip().splitlines()[-3:]
                    print(f"{m} ε={eps:g} failed: {' / '.join(tail)}", file=sys.stderr)
                    break
                q, pt = quality(real, synth)
                acc, f1 = tstr(synth, test)
                scores.append((secs, q, pt, acc, f1))
                print(
                    f"{m} ε={eps:g} seed {seed}: {secs:.1f}s quality {q:.3f} pairs {pt:.3f} "
                    f"acc {acc:.3f} F1 {f1:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
            if scores:
                mean = np.mean(np.array(scores), axis=0)
                label = m if len(scores) == 1 else f"{m} (mean of {len(scores)} seeds)"
                rows.append((label, f"{eps:g}", *(float(x) for x in mean)))  # type: ignore[arg-type]
    ref = {r[1]: r[2] for r in rows if r[0].split(" (")[0] == "mbi"}
    print(
        f"\nadult.csv → adult_test.csv, δ = 1e-9, seeds {a.seeds}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(
        "| method | ε | fit + sample (s) | × reference time | quality | pair trends | TSTR accuracy | TSTR F1 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m, e, secs, q, pt, acc, f1 in rows:
        t = "-" if secs is None else f"{secs:.1f}"
        ratio = f"{secs / ref[e]:.2f}" if secs is not None and ref.get(e) else "-"
        print(f"| {m} | {e} | {t} | {ratio} | {q:.3f} | {pt:.3f} | {acc:.3f} | {f1:.3f} |")


if __name__ == "__main__":
    main()
