"""Continuous vs exact discrete Gaussian noise on counts: per call, and per fit, in one run.

    .venv/bin/python bench/bench_noise.py                 # sizes 10 … 1e6, ρ 0.01 and 1; fits × 3
    .venv/bin/python bench/bench_noise.py --repeats 1 --no-fits

Per call: `noisy_counts` on a histogram of each size, "before" = the counts
plus numpy's floating-point normal (the code this replaced, kept below as
`continuous_noisy_counts`), "after" = the exact discrete Gaussian
(generators/privacy/discrete_gaussian.py); both with numpy's default PCG64
and with ChaCha20 (randomgen, the service's noise generator). Median seconds
per call and after/before.

Per fit: dp_marginals and aim (ε = 1, δ = 1e-9) on synth/demo/adult.csv with
the inferred schema (DP bounds and DP category selection, so every noisy
count path runs), median of `--repeats` fits, before and after interleaved
(before, after, before, …) so a change in the machine's load hits both.
"Before" swaps the code of `noisy_counts` and `dp_select_categories` for the
old ones (`continuous_noise`): every caller, AIM's rounds included, then adds
the continuous normal again. A fidelity check rides along: the mean total
variation distance of the one- and two-way marginals of 32,561 sampled rows
against adult (numeric columns on 20 equal-width bins). Prints Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generators import generator_class  # noqa: E402
from generators.columns import to_float  # noqa: E402
from generators.privacy import mechanisms  # noqa: E402
from generators.privacy.mechanisms import (  # noqa: E402
    SelectedCategories,
    gaussian_sigma,
    noisy_counts,
    selection_threshold,
)
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.schema import ColumnKind, TableSchema  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

ADULT = REPO / "synth" / "demo" / "adult.csv"
SIZES = (10, 1_000, 100_000, 1_000_000)
RHOS = (0.01, 1.0)


# --- the code this replaced ------------------------------------------------------------------


def continuous_noisy_counts(counts: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism on a histogram (sensitivity 1): ρ-zCDP."""
    sigma = gaussian_sigma(rho)
    return counts.astype(np.float64) + rng.normal(0.0, sigma, size=counts.shape)


def continuous_select_categories(
    values: list[str] | np.ndarray,
    counts: np.ndarray,
    rho: float,
    delta: float,
    rng: np.random.Generator,
    *,
    min_count: float = 0.0,
) -> SelectedCategories:
    sigma = gaussian_sigma(rho)
    noisy = noisy_counts(np.asarray(counts), rho, rng)
    tau = max(selection_threshold(sigma, delta), min_count)
    keep = noisy > tau
    vals = [str(v) for v, k in zip(values, keep, strict=True) if k]
    order = np.argsort(-noisy[keep], kind="stable")
    kept_noisy = noisy[keep][order]
    vals = [vals[i] for i in order]
    return SelectedCategories(vals, kept_noisy)


@contextlib.contextmanager
def continuous_noise() -> Iterator[None]:
    """Run the old code inside `mechanisms`' functions (every importer holds the same objects)."""
    swaps = [
        (mechanisms.noisy_counts, continuous_noisy_counts),
        (mechanisms.dp_select_categories, continuous_select_categories),
    ]
    saved = [f.__code__ for f, _ in swaps]
    for f, old in swaps:
        f.__code__ = old.__code__
    try:
        yield
    finally:
        for (f, _), code in zip(swaps, saved, strict=True):
            f.__code__ = code


# --- measuring ---------------------------------------------------------------------------------


Noise = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def per_call(
    fn: Noise, counts: np.ndarray, rho: float, rng: np.random.Generator, min_seconds: float
) -> float:
    """Median seconds of one call, over enough calls to fill `min_seconds` (at least 3)."""
    times: list[float] = []
    while len(times) < 3 or sum(times) < min_seconds:
        t0 = time.perf_counter()
        fn(counts, rho, rng)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def generators_by_name() -> dict[str, Callable[[int], np.random.Generator]]:
    out: dict[str, Callable[[int], np.random.Generator]] = {"PCG64": np.random.default_rng}
    try:
        from randomgen import ChaCha

        out["ChaCha20"] = lambda seed: np.random.Generator(ChaCha(seed=seed, rounds=20))
    except ImportError:
        pass
    return out


def columns_of(table: pa.Table, schema: TableSchema) -> list[np.ndarray]:
    """Each modelled column: floats (numeric, datetime) or strings with null as "\\0" (objects)."""
    cols = []
    for col in schema.modelled():
        arr = table.column(col.name)
        if col.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
            cols.append(to_float(arr, col))
        else:
            cols.append(np.array(arr.cast(pa.string()).fill_null("\0").to_pylist(), dtype=object))
    return cols


def marginal_tv(real: pa.Table, synth: pa.Table, schema: TableSchema) -> tuple[float, float]:
    """Mean TV distance of the one-way and of the two-way marginals."""
    rc, sc = columns_of(real, schema), columns_of(synth, schema)
    enc_r, enc_s = [], []
    for r, s in zip(rc, sc, strict=True):
        if r.dtype == object:
            cats = {v: i for i, v in enumerate(sorted(set(r) | set(s)))}
            enc_r.append(np.array([cats[v] for v in r]))
            enc_s.append(np.array([cats[v] for v in s]))
        else:
            lo, hi = np.nanmin(r), np.nanmax(r)
            edges = np.linspace(lo, hi, 21)
            for x, out in ((r, enc_r), (s, enc_s)):
                b = np.clip(np.searchsorted(edges, np.clip(x, lo, hi), side="right") - 1, 0, 19)
                out.append(np.where(np.isnan(x), 20, b))

    def tv(a: np.ndarray, b: np.ndarray, size: int) -> float:
        pa_ = np.bincount(a, minlength=size) / a.size
        pb = np.bincount(b, minlength=size) / b.size
        return 0.5 * float(np.abs(pa_ - pb).sum())

    sizes = [int(max(r.max(), s.max())) + 1 for r, s in zip(enc_r, enc_s, strict=True)]
    one = [tv(r, s, k) for r, s, k in zip(enc_r, enc_s, sizes, strict=True)]
    two = [
        tv(enc_r[i] * sizes[j] + enc_r[j], enc_s[i] * sizes[j] + enc_s[j], sizes[i] * sizes[j])
        for i, j in itertools.combinations(range(len(sizes)), 2)
    ]
    return float(np.mean(one)), float(np.mean(two))


def time_in_noise(
    method: str, path: str, table: pa.Table, schema: TableSchema, eps: float
) -> tuple[int, float]:
    """(calls, cumulative seconds) of noisy_counts in one profiled fit (seed 0)."""
    gen = generator_class(method)(epsilon=eps, delta=1e-9)
    prof = cProfile.Profile()
    with continuous_noise() if path == "before" else contextlib.nullcontext():
        prof.enable()
        gen.fit(table, schema, rng=np.random.default_rng(0))
        prof.disable()
    names = ("noisy_counts", "continuous_noisy_counts")  # the swap keeps the old code's name
    found = [
        (nc, ct)
        for (_, _, name), (_, nc, _, ct, _) in pstats.Stats(prof).stats.items()  # type: ignore[attr-defined]
        if name in names
    ]
    return sum(n for n, _ in found), sum(s for _, s in found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="fits per method and path (median)")
    ap.add_argument("--eps", type=float, default=1.0)
    ap.add_argument("--min-seconds", type=float, default=0.5, help="per-call timing budget")
    ap.add_argument("--no-fits", action="store_true", help="per-call timings only")
    args = ap.parse_args()
    load0 = os.getloadavg()

    print("### Per call: noisy_counts on a histogram\n")
    print(
        "| generator | cells | ρ | σ | before: numpy normal (s) | after: discrete Gaussian (s) | after / before |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for gname, make in generators_by_name().items():
        for size, rho in itertools.product(SIZES, RHOS):
            counts = np.zeros(size, dtype=np.int64)
            rng = make(0)
            before = per_call(continuous_noisy_counts, counts, rho, rng, args.min_seconds)
            after = per_call(noisy_counts, counts, rho, rng, args.min_seconds)
            sigma = gaussian_sigma(rho)
            print(
                f"| {gname} | {size:,} | {rho:g} | {sigma:.3g} | {before:.3g} | {after:.3g} "
                f"| {after / before:.1f} |",
                flush=True,
            )

    if not args.no_fits:
        table = read_table(ADULT)
        schema = infer_schema(table)
        print(
            f"\n### Per fit: adult.csv ({table.num_rows:,} rows, inferred schema), "
            f"ε = {args.eps:g}, δ = 1e-9, median of {args.repeats}\n"
        )
        print(
            "| method | before: fit (s) | after: fit (s) | after / before | 1-way TV before → after | 2-way TV before → after |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        details: list[str] = []
        for method in ("dp_marginals", "aim"):
            secs: dict[str, list[float]] = {"before": [], "after": []}
            tvs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
            for seed in range(args.repeats):
                for path in ("before", "after"):
                    gen = generator_class(method)(epsilon=args.eps, delta=1e-9)
                    ctx = continuous_noise() if path == "before" else contextlib.nullcontext()
                    with ctx:
                        t0 = time.perf_counter()
                        gen.fit(table, schema, rng=np.random.default_rng(seed))
                        secs[path].append(time.perf_counter() - t0)
                    synth = gen.sample_table(table.num_rows, seed=seed)
                    tvs[path].append(marginal_tv(table, synth, schema))
            b, a = statistics.median(secs["before"]), statistics.median(secs["after"])
            tb = np.mean(tvs["before"], axis=0)
            ta = np.mean(tvs["after"], axis=0)
            print(
                f"| {method} | {b:.2f} | {a:.2f} | {a / b:.2f} | {tb[0]:.4f} → {ta[0]:.4f} "
                f"| {tb[1]:.4f} → {ta[1]:.4f} |",
                flush=True,
            )
            details.append(
                f"- {method}: fit seconds before {[round(s, 2) for s in secs['before']]}, "
                f"after {[round(s, 2) for s in secs['after']]}; 2-way TV per seed before "
                f"{[round(t[1], 4) for t in tvs['before']]}, "
                f"after {[round(t[1], 4) for t in tvs['after']]}"
            )
        print("\nEvery fit (seeds 0, 1, …):\n")
        print("\n".join(details))
        print(
            "\nWhere the fit's time goes: one more fit each (seed 0) under cProfile, the "
            "seconds inside noisy_counts (all callers, AIM's rounds included)\n"
        )
        print("| method | calls before / after | before (s) | after (s) | after − before (s) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for method in ("dp_marginals", "aim"):
            nb, sb = time_in_noise(method, "before", table, schema, args.eps)
            na, sa = time_in_noise(method, "after", table, schema, args.eps)
            print(f"| {method} | {nb} / {na} | {sb:.3f} | {sa:.3f} | {sa - sb:.3f} |", flush=True)

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    print(
        f"\nmachine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average {load0[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
