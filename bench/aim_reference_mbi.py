"""The reference AIM (McKenna et al. 2022) on `mbi` 2.x, for bench_aim.py to compare against.

Runs in its own virtualenv (mbi brings JAX; it is never a dependency of synth):

    python -m venv /tmp/mbi-venv && /tmp/mbi-venv/bin/pip install mbi pandas
    /tmp/mbi-venv/bin/python bench/aim_reference_mbi.py --data adult.csv --spec spec.json \
        --epsilon 1 --delta 1e-9 --seed 0 --out synthetic.csv
    /tmp/mbi-venv/bin/python bench/aim_reference_mbi.py --codes codes.npz --out synthetic.npy

Two ways in. With `--codes` (what bench_aim.py does) it gets the columns
already discretised by our `aim` (its DP histograms, charged to the same
budget) and the ρ left for the rounds, and returns synthetic codes for our
decoder: the two AIMs then differ only in their rounds and estimation.
With `--data`/`--spec` it bins the CSV itself, as described below.

The loop follows `mechanisms/aim.py` of the private-pgm repository (workload:
all pairs of at most 10,000 cells; 1,000 mirror-descent iterations per round
with warm start, 2,500 at the end; max model size 80 MB), with mbi 2.x's
estimator API, and with its marginal queries run eagerly (`jax.disable_jit`,
see `aim`). `spec.json` gives the same public domain our generator gets:
per column either {"categories": [...]} or {"lower", "upper", "integer"};
numbers are cut into at most 80 equal-width bins and decoded uniformly within
their bin. Prints one JSON line: fit and sample seconds; each round's
timings go to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
# mbi compiles many small programs; a persistent cache only costs memory here (mbi's advice).
jax.config.update("jax_enable_compilation_cache", False)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mbi import Dataset, Domain, LinearMeasurement  # noqa: E402
from mbi.estimation import MirrorDescent  # noqa: E402
from mbi.junction_tree import hypothetical_model_size  # noqa: E402

_ZCDP = Path(__file__).resolve().parents[1] / "generators" / "privacy" / "zcdp.py"
_spec = importlib.util.spec_from_file_location("zcdp", _ZCDP)
assert _spec and _spec.loader
zcdp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zcdp)

BINS = 80
T0 = time.perf_counter()


def edges_for(lo: float, hi: float, integer: bool) -> np.ndarray:
    if integer:
        width = max(1, math.ceil((hi - lo + 1) / BINS))
        n = math.ceil((hi - lo + 1) / width)
        return lo + width * np.arange(n + 1, dtype=np.float64) - 0.5
    return np.linspace(lo, hi, BINS + 1)


def encode(df: pd.DataFrame, spec: dict) -> tuple[Dataset, dict]:
    data, shape, decoders = {}, {}, {}
    for name, s in spec.items():
        col = df[name]
        if "categories" in s:
            cats = list(s["categories"])
            lookup = {c: i for i, c in enumerate(cats)}
            codes = np.array(
                [lookup.get(v, len(cats)) if isinstance(v, str) else len(cats) for v in col]
            )
            size = len(cats) + 1  # the last code is null
            decoders[name] = ("cat", cats)
        else:
            e = edges_for(s["lower"], s["upper"], s["integer"])
            v = col.to_numpy(dtype=float)
            codes = np.clip(
                np.searchsorted(e, np.nan_to_num(v, nan=e[0]), side="right") - 1, 0, len(e) - 2
            )
            size = len(e) - 1 + 1
            codes = np.where(np.isnan(v), size - 1, codes)
            decoders[name] = ("num", e, s["integer"])
        data[name] = codes.astype(np.int64)
        shape[name] = size
    return Dataset(data, Domain(list(shape), list(shape.values()))), decoders


def decode(synth: Dataset, decoders: dict, rng: np.random.Generator) -> pd.DataFrame:
    out = {}
    for name, dec in decoders.items():
        codes = np.asarray(synth.data[name])
        if dec[0] == "cat":
            cats = dec[1]
            out[name] = [cats[c] if c < len(cats) else None for c in codes]
        else:
            e, integer = dec[1], dec[2]
            null = codes >= len(e) - 1
            c = np.minimum(codes, len(e) - 2)
            v = e[c] + rng.random(len(c)) * (e[c + 1] - e[c])
            v = np.rint(v) if integer else v
            out[name] = pd.array(np.where(null, np.nan, v), dtype="Int64" if integer else "Float64")
    return pd.DataFrame(out)


def powerset(cl):
    return itertools.chain.from_iterable(
        itertools.combinations(cl, r) for r in range(1, len(cl) + 1)
    )


def downward_closure(ws):
    ans = set()
    for w in ws:
        ans.update(powerset(w))
    return sorted(ans, key=len)


def exponential_mechanism(q: dict, eps: float, sens: float, rng: np.random.Generator):
    keys = list(q)
    v = np.array([q[k] for k in keys])
    p = np.exp(0.5 * eps / sens * (v - v.max()))
    return keys[rng.choice(len(keys), p=p / p.sum())]


def aim(data: Dataset, rho: float, rng: np.random.Generator, *, max_model_size=80):
    dom = data.domain
    workload = [cl for cl in itertools.combinations(dom.attributes, 2) if dom.size(cl) <= 10_000]
    candidates = {
        cl: float(sum(len(set(cl) & set(w)) for w in workload)) for cl in downward_closure(workload)
    }
    answers = {cl: data.project(cl).datavector() for cl in candidates}
    rounds = 16 * len(dom)
    sigma = np.sqrt(rounds / (2 * 0.9 * rho))
    eps = np.sqrt(8 * 0.1 * rho / rounds)
    measurements = []
    oneway = [cl for cl in candidates if len(cl) == 1]
    rho_used = len(oneway) * 0.5 / sigma**2
    for cl in oneway:
        x = answers[cl]
        measurements.append(LinearMeasurement(x + rng.normal(0, sigma, x.size), cl, sigma))
    engine = MirrorDescent()
    model = engine.estimate(dom, measurements, known_total=data.records, iters=1000)
    t, terminate = 0, False
    while not terminate:
        t += 1
        if rho - rho_used < 2 * (0.5 / sigma**2 + 1.0 / 8 * eps**2):
            remaining = rho - rho_used
            sigma = np.sqrt(1 / (2 * 0.9 * remaining))
            eps = np.sqrt(8 * 0.1 * remaining)
            terminate = True
        rho_used += 1.0 / 8 * eps**2 + 0.5 / sigma**2
        size_limit = max_model_size * rho_used / rho
        free = set(downward_closure(model.cliques))
        small = {
            cl: w
            for cl, w in candidates.items()
            if cl in free or hypothetical_model_size(dom, [*model.cliques, cl]) <= size_limit
        }
        # model.project(cl) per candidate, as the reference; on mbi 2.x a jitted call
        # compiles one variable-elimination program per candidate per round (the
        # model's structure changes every round): ~100 s a round here and a
        # process that runs out of memory mappings. Run eagerly, the same exact
        # marginals take seconds; the mirror descent stays jitted.
        t_sel = time.perf_counter()
        with jax.disable_jit():
            est = {cl: model.project(cl) for cl in small}
        errors = {}
        for cl, w in small.items():
            bias = np.sqrt(2 / np.pi) * sigma * dom.size(cl)
            errors[cl] = w * (
                np.linalg.norm(answers[cl] - np.asarray(est[cl].datavector()), 1) - bias
            )
        cl = exponential_mechanism(errors, eps, max(abs(w) for w in small.values()), rng)
        x = answers[cl]
        measurements.append(LinearMeasurement(x + rng.normal(0, sigma, x.size), cl, sigma))
        z = np.asarray(est[cl].datavector())
        t_fit = time.perf_counter()
        model = engine.estimate(
            dom, measurements, known_total=data.records, iters=1000, warm_start=model
        )
        with jax.disable_jit():
            w = np.asarray(model.project(cl).datavector())
        print(
            json.dumps(
                {
                    "round": t,
                    "clique": cl,
                    "s": round(time.perf_counter() - T0, 1),
                    "select_s": round(t_fit - t_sel, 1),
                    "fit_s": round(time.perf_counter() - t_fit, 1),
                }
            ),
            file=sys.stderr,
            flush=True,
        )
        if np.linalg.norm(w - z, 1) <= sigma * np.sqrt(2 / np.pi) * x.size:
            sigma /= 2
            eps *= 2
    model = engine.estimate(
        dom, measurements, known_total=data.records, iters=2500, warm_start=model
    )
    return model, t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="a CSV, binned by --spec (80 equal-width bins)")
    ap.add_argument("--spec")
    ap.add_argument("--codes", help="an .npz of codes, sizes, names and rho from bench_aim.py")
    ap.add_argument("--epsilon", type=float)
    ap.add_argument("--delta", type=float, default=1e-9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    if a.codes:
        given = np.load(a.codes)
        names = [str(n) for n in given["names"]]
        codes = given["codes"]
        data = Dataset(
            {n: codes[:, i] for i, n in enumerate(names)},
            Domain(names, [int(s) for s in given["sizes"]]),
        )
        rho = float(given["rho"])
    else:
        data, decoders = encode(pd.read_csv(a.data), json.loads(Path(a.spec).read_text()))
        rho = zcdp.cdp_rho(a.epsilon, a.delta)
    t0 = time.perf_counter()
    model, rounds = aim(data, rho, rng)
    t1 = time.perf_counter()
    synth = model.synthetic_data(a.rows or data.records)
    if a.codes:
        out = np.stack([np.asarray(synth.data[n]) for n in names], axis=1)
        t2 = time.perf_counter()
        with open(a.out, "wb") as f:
            np.save(f, out)
    else:
        decode(synth, decoders, rng).to_csv(a.out, index=False)
        t2 = time.perf_counter()
    print(json.dumps({"fit_s": t1 - t0, "sample_s": t2 - t1, "rounds": rounds}))


if __name__ == "__main__":
    main()
