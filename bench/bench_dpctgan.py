"""DP-CTGAN against SDV's CTGANSynthesizer (and dp_marginals) on UCI Adult, side by side.

    .venv/bin/python bench/bench_dpctgan.py                      # everything, ~20-30 min on 2 cores
    .venv/bin/python bench/bench_dpctgan.py --epochs 10 --eps 3  # quicker
    .venv/bin/python bench/bench_dpctgan.py --speed-only --device cuda --no-sdv   # on a GPU box

Same batch size (500) and network sizes (generator and discriminator 256-256,
embedding 128) for both. Measured in one run, as ratios against SDV:

1. preprocessing: DP-CTGAN's DP layout (ε = 3, default share) + encode, vs
   CTGAN's DataTransformer (the VGM mode-specific normalisation SDV runs
   inside `fit`) fit + transform, both on adult.csv;
2. seconds per epoch: DP-CTGAN with DP on (median epoch of the ε = 3 fit),
   vs SDV CTGAN without DP (median epoch of its fit, pac 10 as SDV defaults);
3. sampling `--rows` rows into Parquet (synth.base.atomic.write_parquet_atomic)
   in rows/s, vs SDV `sample` + the same Parquet write, and vs DP-CTGAN's
   bare generator forward pass on the same number of rows;
4. fidelity of 16,281 synthetic rows: SDMetrics QualityReport (column
   shapes, pair trends) against adult.csv, and train-on-synthetic /
   test-on-real accuracy for `income` on adult_test.csv (a gradient-boosted
   classifier trained on 32,561 synthetic rows), for DP-CTGAN at each ε and
   non-DP, SDV CTGAN non-DP, and dp_marginals at the same ε (when present).

SDV and CTGAN are under the Business Source License: they are imported here,
in bench/, and nowhere in synth/, generators/ or evaluators/.
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_dp_marginals import quality  # noqa: E402
from generators.base import Generator  # noqa: E402
from generators.dpctgan import DPCTGAN  # noqa: E402
from generators.dpctgan.accounting import split_budget  # noqa: E402
from generators.dpctgan.preprocess import DPMeasurer, build_layout, count_measurements  # noqa: E402
from generators.dpctgan.transformer import encode  # noqa: E402
from generators.privacy import ZCDPBudget  # noqa: E402
from generators.registry import available_generators, create_generator  # noqa: E402
from synth.base.atomic import write_parquet_atomic  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.progress import Progress  # noqa: E402
from synth.base.randomness import RandomStreams  # noqa: E402
from synth.base.schema import ColumnKind, TableSchema  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

DATA = Path(os.environ.get("SYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
QUALITY_ROWS = 16_281
NETS: dict[str, Any] = {"batch_size": 500, "generator_dim": (256, 256),
                        "discriminator_dim": (256, 256), "embedding_dim": 128}


def tstr_accuracy(train: pd.DataFrame, test: pd.DataFrame, target: str = "income") -> float:
    """Train on `train`, accuracy on `test` (gradient boosting; categoricals as categories)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = train[target].astype(str)
    if y.nunique() < 2:
        return float((test[target].astype(str) == y.iloc[0]).mean())
    feats = [c for c in train.columns if c != target]
    both = pd.concat([train[feats], test[feats]], keys=["tr", "te"])
    for c in feats:
        if both[c].dtype == object or str(both[c].dtype) in ("string", "bool"):
            both[c] = both[c].astype(str).astype("category")
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    clf.fit(both.loc["tr"], y)
    return float((clf.predict(both.loc["te"]) == test[target].astype(str).to_numpy()).mean())


def fidelity(real: pa.Table, holdout: pd.DataFrame, schema: TableSchema,
             sample: Any) -> tuple[float, float, float, float]:
    """(quality, column shapes, pair trends, TSTR accuracy) of a sampler `sample(n, seed)`."""
    q = quality(real, sample(QUALITY_ROWS, seed=1), schema)
    acc = tstr_accuracy(sample(real.num_rows, seed=2).to_pandas(), holdout)
    return (*q, acc)


# --- DP-CTGAN --------------------------------------------------------------------------


def dpctgan_preprocess_s(table: pa.Table, schema: TableSchema, repeats: int) -> float:
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        split = split_budget(3.0, 3e-6, 0.1)
        _, sel = count_measurements(schema)
        budget = ZCDPBudget(split.preprocessing_epsilon, split.preprocessing_delta,
                            selection_delta=split.preprocessing_delta / 2 if sel else 0)
        noise = RandomStreams.from_rng(np.random.default_rng(r))
        layout = build_layout(table, schema, DPMeasurer(budget, schema, noise))
        encode(table, schema, layout)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fit_dpctgan(table: pa.Table, schema: TableSchema, eps: float | None, epochs: int,
                device: str) -> tuple[DPCTGAN, float]:
    """Fit; returns the model and the median seconds per epoch (epochs 2..E, or the one)."""
    stamps: list[float] = []

    def progress(p: Progress) -> None:
        if "epoch" in p.metrics:
            stamps.append(time.perf_counter())

    gen = DPCTGAN(epsilon=eps, epochs=epochs, device=device, allow_non_private=True, **NETS)  # type: ignore[arg-type]
    start = [0.0]

    def first(p: Progress) -> None:
        if p.phase == "preprocessing" and p.fraction == 1.0:
            start[0] = time.perf_counter()
        progress(p)

    gen.fit(table, schema, rng=np.random.default_rng(0), progress=first)
    # epoch 1 also holds encode + σ calibration; report the median of the later epochs
    gaps = np.diff(stamps) if len(stamps) > 1 else np.array([stamps[0] - start[0]])
    return gen, float(np.median(gaps))


def forward_rows_per_s(gen: DPCTGAN, rows: int, device: str) -> float:
    """The bare generator forward pass, batches of 65,536 rows: the ceiling for sampling."""
    assert gen.net is not None and gen.layout is not None
    dev = next(gen.net.parameters()).device
    width = gen.embedding_dim + gen.layout.cond_width
    x = torch.randn(min(rows, 65_536), width, device=dev)
    done = 0
    with torch.inference_mode():
        gen.net(x)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        while done < rows:
            gen.net(x[: min(65_536, rows - done)])
            done += min(65_536, rows - done)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return rows / (time.perf_counter() - t0)


def sample_rows_per_s(gen: Generator, rows: int, schema: TableSchema, path: Path) -> float:
    t0 = time.perf_counter()
    n = write_parquet_atomic(path, gen.sample(rows, seed=7), schema.arrow_schema())
    return n / (time.perf_counter() - t0)


# --- SDV (bench only) ---------------------------------------------------------------------


def sdv_metadata(schema: TableSchema) -> Any:
    from sdv.metadata import Metadata

    cols = {c.name: {"sdtype": "categorical" if c.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)
                     else "numerical"} for c in schema.modelled()}
    return Metadata.load_from_dict({"METADATA_SPEC_VERSION": "V1",
                                    "tables": {"adult": {"columns": cols}}})


def sdv_preprocess_s(df: pd.DataFrame, schema: TableSchema, repeats: int) -> float:
    from ctgan.data_transformer import DataTransformer

    discrete = [c.name for c in schema.modelled() if c.kind is ColumnKind.CATEGORICAL]
    frame = df.copy()
    frame[discrete] = frame[discrete].fillna("nan")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dt = DataTransformer()
        dt.fit(frame, discrete)
        dt.transform(frame)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fit_sdv(df: pd.DataFrame, schema: TableSchema, epochs: int) -> tuple[Any, float]:
    """Fit SDV's CTGANSynthesizer; returns it and its median seconds per epoch.

    Epochs are timed by wrapping the `tqdm` over epochs inside ctgan (bench-only patching).
    """
    import ctgan.synthesizers.ctgan as ctgan_module
    from sdv.single_table import CTGANSynthesizer

    stamps: list[float] = []
    original = ctgan_module.tqdm

    def timed_epochs(iterable: Any, *args: Any, **kwargs: Any) -> Any:
        for item in original(iterable, *args, **kwargs):
            stamps.append(time.perf_counter())
            yield item
        stamps.append(time.perf_counter())

    md = sdv_metadata(schema)
    torch.manual_seed(0)  # SDV seeds globally; acceptable in a bench script, never in the library
    ctgan_module.tqdm = timed_epochs  # type: ignore[assignment]
    try:
        synth = CTGANSynthesizer(md, epochs=epochs, enable_gpu=False, **NETS)
        synth.fit({"adult": df})  # SDV 2 takes and returns {table name: DataFrame}
    finally:
        ctgan_module.tqdm = original
    return synth, float(np.median(np.diff(stamps)))


def sdv_frame(out: Any) -> pd.DataFrame:
    return next(iter(out.values())) if isinstance(out, dict) else out


def sdv_sample_rows_per_s(synth: Any, rows: int, schema: TableSchema, path: Path) -> float:
    t0 = time.perf_counter()
    df = sdv_frame(synth.sample(rows))
    table = pa.Table.from_pandas(df, preserve_index=False).cast(schema.arrow_schema())
    write_parquet_atomic(path, table, schema.arrow_schema())
    return rows / (time.perf_counter() - t0)


def sdv_sampler(synth: Any, schema: TableSchema) -> Any:
    def sample(n: int, *, seed: int) -> pa.Table:
        df = sdv_frame(synth.sample(n))
        return pa.Table.from_pandas(df, preserve_index=False).cast(schema.arrow_schema())
    return sample


# --- the run ----------------------------------------------------------------------------------


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eps", default="1,3,10", help="comma-separated ε values (default 1,3,10)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs of every fidelity fit (default 30)")
    ap.add_argument("--sdv-epochs", type=int, default=None, help="SDV epochs (default: --epochs)")
    ap.add_argument("--rows", type=int, default=200_000, help="rows to sample into Parquet")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the preprocessing timing")
    ap.add_argument("--device", default="auto", help="DP-CTGAN device: auto, cpu or cuda")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for both models (default 1: on a shared, loaded VM two "
                         "OpenMP threads oversubscribe and run ~5× slower)")
    ap.add_argument("--no-sdv", action="store_true", help="skip SDV (e.g. where it is not installed)")
    ap.add_argument("--speed-only", action="store_true", help="ε = 3 only, no fidelity scores")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    epsilons: list[float | None] = [3.0] if args.speed_only else [float(e) for e in args.eps.split(",")] + [None]
    sdv_epochs = args.sdv_epochs or args.epochs

    table = read_table(DATA / "adult.csv")
    holdout_t = read_table(DATA / "adult_test.csv")
    holdout = holdout_t.to_pandas()
    schema = infer_schema(table)
    df = table.to_pandas()
    real_ref = None if args.speed_only else (*quality(table, holdout_t, schema), tstr_accuracy(df, holdout))

    pre_ours = dpctgan_preprocess_s(table, schema, args.repeats)
    pre_sdv = None if args.no_sdv else sdv_preprocess_s(df, schema, args.repeats)

    rows: list[tuple[str, float | None, float | None, float | None, tuple[float, ...] | None]] = []
    speed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.parquet"
        if not args.no_sdv:
            synth, speed["sdv_epoch"] = fit_sdv(df, schema, sdv_epochs)
            speed["sdv_sample"] = sdv_sample_rows_per_s(synth, args.rows, schema, path)
            fid = None if args.speed_only else fidelity(table, holdout, schema, sdv_sampler(synth, schema))
            rows.append((f"SDV CTGAN, {sdv_epochs} epochs", None, None, speed["sdv_epoch"], fid))
        for eps in epsilons:
            gen, epoch_s = fit_dpctgan(table, schema, eps, args.epochs, args.device)
            if eps == 3.0:
                speed["ours_epoch"] = epoch_s
                speed["ours_sample"] = sample_rows_per_s(gen, args.rows, schema, path)
                speed["ours_forward"] = forward_rows_per_s(gen, args.rows, args.device)
            fid = None if args.speed_only else fidelity(table, holdout, schema, gen.sample_table)
            spent = gen.privacy.epsilon if gen.privacy else None
            rows.append((f"DP-CTGAN, {args.epochs} epochs", eps, spent, epoch_s, fid))
            if eps is not None and not args.speed_only and "dp_marginals" in available_generators():
                try:
                    dm = create_generator("dp_marginals", epsilon=eps)
                    dm.fit(table, schema, rng=np.random.default_rng(0))
                    rows.append(("dp_marginals", eps, dm.privacy.epsilon if dm.privacy else None, None,
                                 fidelity(table, holdout, schema, dm.sample_table)))
                except Exception as exc:  # the other helper's module may be mid-change
                    print(f"dp_marginals at ε={eps} failed: {exc}", file=sys.stderr)

    dev = str(torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                           ("cpu" if args.device == "auto" else args.device)))
    gpu = f" · {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · {platform.processor() or platform.machine()}{gpu}"
          f" · Python {platform.python_version()} · torch {torch.__version__} · {args.threads} torch thread(s)"
          f" · DP-CTGAN device {dev}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"data: adult.csv {table.num_rows:,} rows; batch 500, nets 256-256, embedding 128; "
          f"{args.epochs} epochs per DP-CTGAN fit, SDV {sdv_epochs}; sampling {args.rows:,} rows\n")

    print("| measure | DP-CTGAN | SDV CTGAN | ratio | aim |")
    print("| --- | ---: | ---: | ---: | --- |")
    if pre_sdv is not None:
        print(f"| preprocessing fit+transform, s | {pre_ours:.3f} | {pre_sdv:.3f} | "
              f"{pre_sdv / pre_ours:.1f}× faster | ≥ 10× faster |")
    else:
        print(f"| preprocessing fit+transform, s | {pre_ours:.3f} | – | – | ≥ 10× faster |")
    if "ours_epoch" in speed:
        sdv_e = speed.get("sdv_epoch")
        print(f"| s per epoch (ours DP ε=3, SDV non-DP) | {speed['ours_epoch']:.2f} | {fmt(sdv_e, '.2f')} | "
              f"{fmt(None if sdv_e is None else speed['ours_epoch'] / sdv_e, '.2f')}× | ≤ 1.0× |")
        sdv_s = speed.get("sdv_sample")
        print(f"| sampling into Parquet, rows/s | {speed['ours_sample']:,.0f} | {fmt(sdv_s, ',.0f')} | "
              f"{fmt(None if sdv_s is None else speed['ours_sample'] / sdv_s, '.1f')}× | ≥ 4× |")
        print(f"| sampling / bare forward pass ({speed['ours_forward']:,.0f} rows/s) | "
              f"{speed['ours_sample'] / speed['ours_forward']:.0%} | | | ≥ 80% |")
    if not args.speed_only:
        print("\n| model | ε target | ε spent | s/epoch | quality | column shapes | pair trends | TSTR accuracy |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, e, spent, per_epoch, scores in rows:
            cells = [fmt(x) for x in scores] if scores else ["–"] * 4
            print(f"| {name} | {'non-DP' if e is None else e} | {fmt(spent, '.3f')} | {fmt(per_epoch, '.2f')} | "
                  + " | ".join(cells) + " |")
        assert real_ref is not None
        print("| real holdout (adult_test.csv) / train on real | – | – | – | "
              + " | ".join(fmt(x) for x in real_ref) + " |")


if __name__ == "__main__":
    pd.set_option("mode.copy_on_write", True)
    main()
