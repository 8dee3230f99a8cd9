"""Side-by-side benchmark of evaluators/ against SDMetrics and anonymeter.

One command (from the repository root):

    .venv/bin/python bench/bench_evaluators.py [--anonymeter /tmp/anon-venv/bin/python]

prints Markdown tables:
1. fidelity on Adult (train half vs a dp_marginals sample, and vs a copy of train):
   our scores and time against SDMetrics' QualityReport in the same run;
2. fidelity at scale: 100k × 20 against SDMetrics, and 1M × 20 (ours alone);
3. risk on Adult: our exact matches, DCR share, membership inference and the
   three anonymeter-model attacks, against SDMetrics' DCROverfittingProtection
   (subsampled: the full one does not finish) and anonymeter in its own
   virtualenv (bench/anonymeter_env/setup.sh);
4. risk speed: 100k synthetic vs 100k train + 25k holdout rows.

SDMetrics and anonymeter are references here only; synth never imports them.
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
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluators import EvaluateOptions, evaluate  # noqa: E402
from evaluators.fidelity import fidelity  # noqa: E402
from evaluators.inputs import prepare  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.tableio import read_table, split_holdout  # noqa: E402

RISK = ("exact_matches", "distance", "membership", "singling_out", "linkability", "inference")
DATA = Path(os.environ.get("SYNTH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def dp_marginals_sample(train: pa.Table, n: int) -> tuple[pa.Table, str]:
    """A dp_marginals (ε = 1) sample, or an independent-column resample of train as a stand-in."""
    try:
        from generators.registry import create_generator

        g = create_generator("dp_marginals", epsilon=1.0)
        g.fit(train, infer_schema(train), rng=np.random.default_rng(0))
        return g.sample_table(n, seed=1), "dp_marginals (ε = 1)"  # type: ignore[attr-defined]
    except Exception as exc:  # the generator is another helper's work in progress
        print(f"<!-- dp_marginals unavailable ({exc}); using an independent-column resample -->")
        df = pl.from_arrow(train)
        assert isinstance(df, pl.DataFrame)
        rng = np.random.default_rng(0)
        return pl.DataFrame({c: df[c].gather(rng.integers(df.height, size=n)) for c in df.columns}).to_arrow(), \
            "independent-column resample (stand-in)"


def sdm_quality(real: pa.Table, syn: pa.Table, kinds: dict[str, str]) -> tuple[float, float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        r, s = real.to_pandas(), syn.to_pandas()
        t0 = time.perf_counter()
        rep = QualityReport()
        rep.generate(r, s, {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}, verbose=False)
        secs = time.perf_counter() - t0
    props = rep.get_properties().set_index("Property")["Score"]
    return rep.get_score(), props["Column Shapes"], props["Column Pair Trends"], secs


def ours_quality(real: pa.Table, syn: pa.Table) -> tuple[float, float, float, float, dict[str, str]]:
    t0 = time.perf_counter()
    inputs = prepare(syn, real, None, schema=None)
    f = fidelity(inputs)
    secs = time.perf_counter() - t0
    return f.overall, f.column_shapes, f.column_pair_trends, secs, {c.name: c.kind.value for c in inputs.columns}


def widen(t: pa.Table, n: int, extra: int, rng: np.random.Generator) -> pa.Table:
    """n rows resampled from t plus `extra` numeric columns derived from age + noise (20 columns)."""
    df = pl.from_arrow(t)
    assert isinstance(df, pl.DataFrame)
    df = df.select(pl.all().gather(rng.integers(df.height, size=n)))
    age = df["age"].cast(pl.Float64).to_numpy()
    return df.with_columns([pl.Series(f"x{i}", age * (i + 1) + rng.normal(size=n) * 10) for i in range(extra)]).to_arrow()


def section_fidelity(tables: dict[str, pa.Table], train: pa.Table) -> None:
    print("\n### Fidelity on Adult (train half, 16,281 rows) — ours vs SDMetrics QualityReport\n")
    print("| synthetic table | ours overall | SDMetrics overall | |Δ| shapes | |Δ| pair trends | ours s | SDMetrics s | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, syn in tables.items():
        o, osh, opt, osec, kinds = ours_quality(train, syn)
        s, ssh, spt, ssec = sdm_quality(train, syn, kinds)
        print(f"| {name} | {o:.4f} | {s:.4f} | {abs(osh - ssh):.1e} | {abs(opt - spt):.1e} | {osec:.2f} | {ssec:.2f} | {ssec / osec:.0f}× |")


def section_scale(train: pa.Table) -> None:
    print("\n### Fidelity at scale (Adult resampled, 15 columns + 5 derived numerical = 20)\n")
    print("| rows (each table) | ours s | SDMetrics s | speed-up | ours overall | SDMetrics overall |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    rng = np.random.default_rng(5)
    for n, with_sdm in ((100_000, True), (1_000_000, False)):
        real, syn = widen(train, n, 5, rng), widen(train, n, 5, rng)
        o, _, _, osec, kinds = ours_quality(real, syn)
        if with_sdm:
            s, _, _, ssec = sdm_quality(real, syn, kinds)
            print(f"| {n:,} | {osec:.2f} | {ssec:.2f} | {ssec / osec:.0f}× | {o:.4f} | {s:.4f} |")
        else:
            print(f"| {n:,} | {osec:.2f} | not run | | {o:.4f} | |")


def sdm_dcr(train: pa.Table, syn: pa.Table, hold: pa.Table, kinds: dict[str, str], sub: int) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.single_table import DCROverfittingProtection

        md = {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}
        t0 = time.perf_counter()
        r = DCROverfittingProtection.compute_breakdown(train.to_pandas(), syn.to_pandas(), hold.to_pandas(), md,
                                                       None, num_rows_subsample=sub, num_iterations=1)
        return r["score"], r["synthetic_data_percentages"]["closer_to_training"], time.perf_counter() - t0


def anonymeter(py: str, syn: pa.Table, train: pa.Table, hold: pa.Table, groups: list[list[str]], opts: EvaluateOptions) -> dict[str, dict[str, float]] | None:
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, t in (("syn", syn), ("train", train), ("hold", hold)):
            p = Path(d) / f"{name}.parquet"
            pq.write_table(t, p)
            paths.append(str(p))
        cmd = [py, str(ROOT / "bench/anonymeter_env/run_anonymeter.py"), *paths, "--secret", "income",
               "--link-a", ",".join(groups[0]), "--link-b", ",".join(groups[1]),
               "--singling-out", str(opts.singling_out_attacks), "--linkability", str(opts.linkability_attacks),
               "--inference", str(opts.inference_attacks)]
        try:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1200).stdout
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"<!-- anonymeter failed: {exc} -->")
            return None
    return json.loads(out.strip().splitlines()[-1])


def section_risk(tables: dict[str, pa.Table], train: pa.Table, hold: pa.Table, anon_py: str | None) -> None:
    print("\n### Risk on Adult (train 16,281 / holdout 16,280 rows)\n")
    opts = EvaluateOptions()
    print("| synthetic table | metric | ours | ours 95% interval | reference | reference value | ours s | reference s |")
    print("| --- | --- | ---: | --- | --- | ---: | ---: | ---: |")
    for name, syn in tables.items():
        t0 = time.perf_counter()
        ev = evaluate(syn, train, hold, seed=0, target="income", options=opts, metrics=RISK)
        total = time.perf_counter() - t0
        sec = ev.seconds
        kinds = {c: k for c, k in zip(ev.columns, [infer_schema(train)[c].kind.value for c in ev.columns], strict=True)}
        assert ev.exact_matches and ev.distance and ev.membership
        em, d, m = ev.exact_matches, ev.distance, ev.membership
        print(f"| {name} | exact-match share (train / holdout) | {em.share_train.value:.4f} / {em.share_holdout.value:.4f} | "
              f"{em.share_train.low:.4f}–{em.share_train.high:.4f} | | | {sec['exact_matches']:.2f} | |")
        ref = ""
        for sub in (1000, 4000):
            score, closer, ssec = sdm_dcr(train, syn, hold, kinds, sub)
            ref += (f"| {name} | DCR share closer to train | {d.dcr_share.value:.4f} | {d.dcr_share.low:.4f}–{d.dcr_share.high:.4f} | "
                    f"SDMetrics DCROverfittingProtection (subsample {sub:,}): closer-to-train share (score) | {closer:.4f} ({score:.3f}) | "
                    f"{sec['distance']:.2f} | {ssec:.2f} |\n")
        print(ref, end="")
        print(f"| {name} | membership inference AUC | {m.auc.value:.4f} | {m.auc.low:.4f}–{m.auc.high:.4f} | | | {sec['membership']:.2f} | |")
        anon = None
        link = next(a for a in ev.attacks if a.attack == "linkability")
        if anon_py:
            anon = anonymeter(anon_py, syn, train, hold, link.detail["columns"], opts)  # type: ignore[arg-type]
        for a in ev.attacks:
            ref_v = ref_s = ""
            if anon is not None and a.attack in anon:
                r = anon[a.attack]
                ref_v = (f"{r['risk']:.4f} [{r['ci'][0]:.3f}–{r['ci'][1]:.3f}] (attack {r['attack_rate']:.3f}, control "
                         f"{r['control_rate']:.3f}, baseline {r['baseline_rate']:.3f})")
                ref_s = f"{r['seconds']:.2f}"
            label = a.attack + (f" (secret {a.detail['secret']})" if "secret" in a.detail else "")
            key = a.attack if a.attack != "inference" else "inference"
            print(f"| {name} | {label} risk (attack {a.attack_rate.value:.3f}, control {a.control_rate.value:.3f}, "
                  f"baseline {a.baseline_rate.value:.3f}, n {a.n_attacks}) | {a.risk.value:.4f} | {a.risk.low:.3f}–{a.risk.high:.3f} | "
                  f"anonymeter 1.1.0 | {ref_v} | {sec[key]:.2f} | {ref_s} |")
        print(f"| {name} | all risk metrics, total | | | | | {total:.1f} | |")


def section_risk_speed(adult: pa.Table, adult_test: pa.Table) -> None:
    print("\n### Risk speed: 100,000 synthetic vs 100,000 train + 25,000 holdout rows (default options)\n")
    both = pl.concat([pl.from_arrow(adult), pl.from_arrow(adult_test)])  # type: ignore[list-item]
    rng = np.random.default_rng(9)

    def draw(n: int) -> pa.Table:
        return both.select(pl.all().gather(rng.integers(both.height, size=n))).to_arrow()

    syn, train, hold = draw(100_000), draw(100_000), draw(25_000)
    t0 = time.perf_counter()
    ev = evaluate(syn, train, hold, seed=0, target="income", metrics=RISK)
    total = time.perf_counter() - t0
    print("| step | seconds |")
    print("| --- | ---: |")
    for k, v in ev.seconds.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **total (incl. input checks and encoding)** | **{total:.1f}** |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anonymeter", default="/tmp/anon-venv/bin/python",
                    help="python of anonymeter's own virtualenv (bench/anonymeter_env/setup.sh); '' to skip")
    ap.add_argument("--skip-scale", action="store_true", help="skip the 100k/1M fidelity and risk-speed runs")
    args = ap.parse_args()
    anon_py = args.anonymeter if args.anonymeter and Path(args.anonymeter).exists() else None
    print(f"Machine: {machine()}  \nCommand: `{' '.join([Path(sys.executable).name, *sys.argv])}`  ")
    print(f"Load average at start: {os.getloadavg()[0]:.1f}")
    adult = read_table(DATA / "adult.csv")
    adult_test = read_table(DATA / "adult_test.csv")
    train, hold = split_holdout(adult, fraction=0.5, seed=7)
    dp, dp_name = dp_marginals_sample(train, train.num_rows)
    tables = {dp_name: dp, "copy of train": train}
    section_fidelity({**tables, "adult_test (independent real sample)": adult_test}, train)
    if not args.skip_scale:
        section_scale(train)
    section_risk(tables, train, hold, anon_py)
    if not args.skip_scale:
        section_risk_speed(adult, adult_test)


if __name__ == "__main__":
    main()
