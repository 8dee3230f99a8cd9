"""One-run canary audits of the generators (Steinke, Nasr & Jagielski, NeurIPS 2023).

Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run",
NeurIPS 2023 (arXiv:2305.08846). The audit, in the paper's notation:

1. m canary rows, fixed before anything random happens. Canary i carries its own
   token, ``canary-00042``, in every *carrier* column (categorical columns whose
   category list is declared public, tokens included, so no budget goes to
   discovering them); its other columns are copied from a base row. A token is
   a category of its own, so every marginal-based model has a cell that only
   canary i can fill: the one-way marginal of each carrier column (dp_marginals
   measures those; AIM measures them first and again whenever it picks them).
2. S_i ~ Bernoulli(1/2), independently, from a fixed numpy seed: canary i is in
   the training table iff S_i. Everything else (base rows, schema, δ, the
   generator's hyper-parameters) is fixed before S is drawn and does not depend
   on it.
3. One fit. Each canary is scored from the output alone: the number of times
   its token appears, over all carrier columns, in a large synthetic sample
   (`scores_from_generator`; the public API only). The score of a copy of the
   training table (the non-private "generator" of the power control) is the
   same count in that copy.
4. Guess "in" (T_i = +1) for the k₊ highest scores, "out" (T_i = −1) for the
   k₋ lowest, abstain (T_i = 0) on the rest; ties are broken by an independent
   random key, so the guesses are a function of the output and of randomness
   independent of S, as the theorem requires. r = k₊ + k₋ guesses, v correct.
5. `epsilon_lower_bound`: the largest ε that the paper's test rejects at 95 %
   confidence, found by bisection (Theorem 5.2, its equation below).

The bound holds for any scorer; a weak scorer only makes it loose. So an audit
that reports ε̂ ≤ the claim proves little on its own: the tests pair it with
controls at the same scale (a copy of the training table, and the generator
with its noise divided by 4, `reduced_noise`) whose bound must pass the claim.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import binom

from synth.base.inference import infer_schema
from synth.base.schema import ColumnKind, TableSchema
from synth.base.tableio import read_table

REPO = Path(__file__).resolve().parents[2]
#: The bundled demo sample: UCI Adult `adult.data`, 32,561 rows (synth/demo/README.md).
ADULT_CSV = REPO / "synth" / "demo" / "adult.csv"
TOKEN_PREFIX = "canary-"


# --- the base table and the canaries ------------------------------------------------------


def load_adult(columns: Sequence[str] | None = None, rows: int | None = None) -> pa.Table:
    """The bundled Adult sample, optionally a column subset and its first `rows` rows."""
    table = read_table(ADULT_CSV)
    if columns is not None:
        table = table.select(list(columns))
    return table.slice(0, rows) if rows is not None else table


def canary_tokens(m: int) -> tuple[str, ...]:
    """The m canary tokens, ``canary-00000`` ... (fixed, public: they are in the schema)."""
    width = max(5, len(str(m - 1)))
    return tuple(f"{TOKEN_PREFIX}{i:0{width}d}" for i in range(m))


def public_schema(base: pa.Table, carriers: Sequence[str], tokens: Sequence[str]) -> TableSchema:
    """The schema an owner who knows the data's domain would declare, from `base` only.

    Categorical columns declare their base values (carriers also every token);
    numerical and datetime columns declare the base's range; so no generator
    spends budget on discovery. It never reads a canary row or the coin flips:
    the declared domain is the same whichever canaries end up in the table.
    """
    inferred = infer_schema(base)
    cols = []
    for col in inferred.columns:
        arr = base.column(col.name)
        if col.name in carriers:
            if not pa.types.is_string(arr.type):
                raise ValueError(f"carrier column {col.name!r} must hold strings")
            values = sorted(pc.unique(arr.drop_null()).to_pylist())
            col = replace(col, kind=ColumnKind.CATEGORICAL, categories=(*values, *tokens))
        elif col.kind is ColumnKind.CATEGORICAL:
            values = sorted(str(v) for v in pc.unique(arr.drop_null()).to_pylist())
            col = replace(col, categories=tuple(values))
        elif col.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME) and not col.has_public_bounds:
            v = arr.drop_null().cast(pa.float64()).to_numpy()
            col = replace(col, lower=float(v.min()), upper=float(v.max()))
        cols.append(col)
    return TableSchema(columns=tuple(cols))


@dataclass(frozen=True)
class CanaryTable:
    """A training table with canaries inserted, and everything the audit keeps secret from it."""

    table: pa.Table  # base rows and the included canaries, shuffled
    schema: TableSchema  # public; the same for every outcome of the coin flips
    tokens: tuple[str, ...]
    carriers: tuple[str, ...]
    included: np.ndarray  # S_i, bool, one per canary

    @property
    def m(self) -> int:
        return len(self.tokens)


def insert_canaries(base: pa.Table, m: int, carriers: Sequence[str], *, seed: int) -> CanaryTable:
    """m canaries, each in the table independently with probability 1/2 (numpy `seed`).

    Canary i is a copy of a random base row (its other columns look like
    everyone's) with token i in every carrier column.
    """
    if not carriers:
        raise ValueError("give at least one carrier column")
    rng = np.random.default_rng(seed)
    tokens = canary_tokens(m)
    schema = public_schema(base, carriers, tokens)
    donors = base.take(pa.array(rng.integers(0, base.num_rows, m)))
    token_arr = pa.array(tokens, type=pa.string())
    canaries = pa.table(
        {
            name: (token_arr if name in carriers else donors.column(name))
            for name in base.column_names
        }
    ).cast(base.schema)
    included = rng.random(m) < 0.5
    rows = pa.concat_tables([base, canaries.filter(pa.array(included))])
    table = rows.take(pa.array(rng.permutation(rows.num_rows)))
    return CanaryTable(table, schema, tokens, tuple(carriers), included)


# --- scores -------------------------------------------------------------------------------


def scores_from_rows(
    rows: pa.Table | pa.RecordBatch, tokens: Sequence[str], carriers: Sequence[str]
) -> np.ndarray:
    """Per canary, how often its token appears in `rows`, summed over the carrier columns."""
    value_set = pa.array(list(tokens), type=pa.string())
    out = np.zeros(len(tokens), dtype=np.int64)
    for name in carriers:
        col = rows.column(name)
        if not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        idx = pc.index_in(col, value_set=value_set).drop_null()
        out += np.bincount(np.asarray(idx, dtype=np.int64), minlength=len(tokens))
    return out


def scores_from_generator(gen: Any, canaries: CanaryTable, n_rows: int, *, seed: int) -> np.ndarray:
    """Token counts in `n_rows` synthetic rows (`gen.sample`, batch by batch: the public API)."""
    out = np.zeros(canaries.m, dtype=np.int64)
    for batch in gen.sample(n_rows, seed=seed):
        out += scores_from_rows(batch, canaries.tokens, canaries.carriers)
    return out


# --- guesses and the bound ----------------------------------------------------------------


def guess(scores: np.ndarray, k_pos: int, k_neg: int, *, seed: int) -> np.ndarray:
    """T: +1 for the k₊ highest scores, −1 for the k₋ lowest, 0 elsewhere.

    Ties are broken by a random key from `seed`, independent of the canaries.
    """
    m = len(scores)
    if k_pos < 0 or k_neg < 0 or k_pos + k_neg > m:
        raise ValueError(f"need 0 <= k_pos + k_neg <= m, got {k_pos} + {k_neg} > {m}")
    tie = np.random.default_rng(seed).random(m)
    order = np.lexsort((tie, np.asarray(scores, dtype=np.float64)))  # ascending score
    t = np.zeros(m, dtype=np.int8)
    t[order[:k_neg]] = -1
    if k_pos:
        t[order[-k_pos:]] = 1
    return t


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[≥ v correct of r guesses] under the null "the mechanism is (ε, δ)-DP" (Theorem 5.2).

    Steinke, Nasr & Jagielski 2023, Theorem 5.2 (approximate DP): with m canaries
    each included with probability 1/2, r guesses and W correct,

        P[W ≥ v] ≤ f(v) + 2mδ · max_{i = 1..v} (f(v − i) − f(v)) / i,
        f(x) = P[Binomial(r, e^ε / (1 + e^ε)) ≥ x],

    computed as in the paper's Appendix D (f(v − i) − f(v) is the Binomial mass
    on [v − i, v)). With δ = 0 it is Theorem 3.1's pure-DP tail f(v).
    """
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError("need epsilon >= 0 and delta in [0, 1]")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(binom.sf(v - 1, r, q))  # f(v) = P[Binomial(r, q) >= v]
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    below = np.cumsum(binom.pmf(np.arange(v - 1, -1, -1), r, q))  # i = 1..v: P[v-i <= B < v]
    alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(tail + 2 * m * delta * alpha, 1.0)


def epsilon_lower_bound(
    m: int, r: int, v: int, delta: float, confidence: float = 0.95, *, tol: float = 1e-6
) -> float:
    """The largest ε at which `p_value` ≤ 1 − confidence: "not (ε, δ)-DP", at that confidence.

    Bisection on ε (the p-value increases with ε), keeping p(lo) ≤ α < p(hi) and
    returning lo, so the result never overstates the bound. 0 when even ε = 0
    is not rejected.
    """
    alpha = 1.0 - confidence
    if not 0 < alpha < 1:
        raise ValueError("confidence must be in (0, 1)")
    if p_value(m, r, v, 0.0, delta) > alpha:
        return 0.0
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) <= alpha:
        lo, hi = hi, 2 * hi
        if hi > 1e4:  # cannot happen for finite r: f(v) -> 1 as ε grows when v <= r
            return lo
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) <= alpha:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class AuditResult:
    """One audit: m canaries, r guesses, v correct, and the ε lower bound at `confidence`."""

    m: int
    k_pos: int
    k_neg: int
    correct: int
    delta: float
    confidence: float
    epsilon_lower: float

    @property
    def guesses(self) -> int:
        return self.k_pos + self.k_neg


def audit(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    k_pos: int,
    k_neg: int,
    delta: float,
    confidence: float = 0.95,
    seed: int = 0,
) -> AuditResult:
    """Guess from the scores, count the correct guesses, turn them into an ε lower bound."""
    included = np.asarray(included, dtype=bool)
    t = guess(scores, k_pos, k_neg, seed=seed)
    correct = int(np.sum((t == 1) & included) + np.sum((t == -1) & ~included))
    m = len(included)
    eps = epsilon_lower_bound(m, k_pos + k_neg, correct, delta, confidence)
    return AuditResult(m, k_pos, k_neg, correct, delta, confidence, eps)


# --- the noise-reduction control ----------------------------------------------------------


@dataclass
class NoiseCut:
    """What `reduced_noise` patched, and how often each calibration was consulted since."""

    factor: float
    patched: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def _calibrations() -> dict[str, tuple[Callable[..., Any], Callable[[Any, float], Any]]]:
    """{name: (the original function, how its result shrinks for noise / factor)}.

    The σ of the continuous Gaussian (`zcdp.gaussian_sigma`) and the σ² of the
    discrete one (`discrete_gaussian.discrete_gaussian_sigma2`, where present):
    the two ρ → noise calibrations the count mechanisms have used.
    """
    out: dict[str, tuple[Callable[..., Any], Callable[[Any, float], Any]]] = {}
    from generators.privacy import zcdp

    out["gaussian_sigma"] = (zcdp.gaussian_sigma, lambda s, f: s / f)
    try:
        from generators.privacy import discrete_gaussian
    except ImportError:
        return out
    if hasattr(discrete_gaussian, "discrete_gaussian_sigma2"):

        def smaller_sigma2(s2: Any, f: float) -> Any:
            return s2 / (Fraction(f) ** 2) if isinstance(s2, Fraction) else s2 / f**2

        out["discrete_gaussian_sigma2"] = (
            discrete_gaussian.discrete_gaussian_sigma2,
            smaller_sigma2,
        )
    return out


@contextmanager
def reduced_noise(
    factor: float, kinds: Sequence[str] = ("dp_marginals", "aim")
) -> Iterator[NoiseCut]:
    """Divide the noise of every Gaussian measurement by `factor`, the ledger unchanged.

    A broken generator on purpose: it still reports the ε it was given, but adds
    σ / factor (ρ·factor² in truth). Patches each ρ → noise calibration function
    in every loaded `generators` module that imported it by name (so both
    `zcdp.gaussian_sigma` and mechanisms' own reference to it change), for the
    `with` block only. `NoiseCut.calls` counts the calls: a control whose fit
    never consulted a patched calibration tested nothing, and says so.
    """
    from generators import generator_class

    for kind in kinds:  # import each generator's modules before patching their names
        generator_class(kind)
    cut = NoiseCut(factor)
    saved: list[tuple[object, str, object]] = []
    try:
        for name, (original, shrink) in _calibrations().items():
            cut.calls[name] = 0

            def patched(
                *args: Any, _o: Any = original, _s: Any = shrink, _n: str = name, **kw: Any
            ) -> Any:
                cut.calls[_n] += 1
                return _s(_o(*args, **kw), factor)

            for mod_name, module in list(sys.modules.items()):
                if module is None or not (
                    mod_name == "generators" or mod_name.startswith("generators.")
                ):
                    continue
                if getattr(module, name, None) is original:
                    saved.append((module, name, original))
                    setattr(module, name, patched)
                    cut.patched.append(f"{mod_name}.{name}")
        yield cut
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


# --- one audit, end to end ----------------------------------------------------------------


@dataclass(frozen=True)
class AuditPlan:
    """Everything an audit fixes before the coin flips: table, canaries, generator, guesses.

    `k_pos` / `k_neg` are chosen per claimed ε before the run (small one-sided
    guesses where the signal is weak, many two-sided ones where it is strong);
    the seeds of the recorded runs were not among those used to choose them.
    """

    kind: str
    epsilon: float
    m: int
    carriers: tuple[str, ...]
    k_pos: int
    k_neg: int
    sample_rows: int
    delta: float = 1e-6
    base_rows: int = 2_000
    params: tuple[tuple[str, Any], ...] = ()
    seed: int = 2024

    @property
    def label(self) -> str:
        return f"{self.kind}-eps{self.epsilon:g}"


class ScaledNormal(np.random.Generator):
    """A numpy Generator whose `normal` draws have their scale divided by `factor`.

    The second way `fit_with_reduced_noise` cuts the noise: before the keyed
    streams and the discrete Gaussian, AIM computed its rounds' σ inline and
    drew `rng.normal(0, σ)` from the fit's `rng`, which no calibration
    function reaches. Counts its `normal` calls.
    """

    def __init__(self, seed: Sequence[int] | int, factor: float) -> None:
        super().__init__(np.random.PCG64(seed))
        self.factor = factor
        self.calls = 0

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        self.calls += 1
        return super().normal(loc, np.asarray(scale) / self.factor, size)


def fit_with_reduced_noise(
    gen: Any, canaries: CanaryTable, factor: float, seed: Sequence[int]
) -> tuple[int, str]:
    """Fit `gen` with its noise divided by `factor`: (calls that cut it, how it was cut).

    First through the calibration functions (`reduced_noise`). A fit that
    consulted none is redone with a `ScaledNormal` as its `rng` instead (never
    both: the old count mechanism took σ from `gaussian_sigma` *and* drew from
    the fit's rng, and would have been cut twice). (0, ...) means neither way
    reached the generator's noise: the control then proves nothing and says so.
    """
    with reduced_noise(factor, kinds=(gen.kind,)) as cut:
        gen.fit(canaries.table, canaries.schema, rng=np.random.default_rng(list(seed)))
    if cut.total_calls:
        return cut.total_calls, "calibration: " + ", ".join(n for n, c in cut.calls.items() if c)
    rng = ScaledNormal(list(seed), factor)
    gen.fit(canaries.table, canaries.schema, rng=rng)
    return rng.calls, "the fit rng's normal draws"


@dataclass(frozen=True)
class AuditRun:
    """An audit's result, what it audited, and how long the fit and the scoring took."""

    plan: AuditPlan
    output: str  # "generator", "copy" (of the training table) or "noise ÷ 4" (say)
    result: AuditResult
    fit_seconds: float
    score_seconds: float
    noise_cuts: int | None = None  # reduced-noise control: the calls that cut the noise
    noise_cut_by: str = ""  # and how (`fit_with_reduced_noise`)


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS (threadpoolctl, where installed) and torch on one thread, for a fit and its sampling.

    Not for the result: for the time, on two cores other processes keep busy.
    AIM's mirror descent makes thousands of small BLAS calls (`np.vdot` on one
    marginal); with OpenBLAS's two threads an AIM fit of these plans took 50 s
    of CPU and 100 s of wall time, against 1.5 s and 3 s with one thread.
    DP-CTGAN's small networks: 39 s with torch's threads, 18 s with one.
    """
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits: Any = nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits:
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None and threads is not None:
                torch.set_num_threads(threads)


def canary_table(plan: AuditPlan) -> CanaryTable:
    """The plan's training table: the first `base_rows` of Adult's carrier columns, plus canaries."""
    base = load_adult(plan.carriers, plan.base_rows)
    return insert_canaries(base, plan.m, plan.carriers, seed=plan.seed)


def run_audit(
    plan: AuditPlan,
    *,
    output: str = "generator",
    noise_factor: float = 1.0,
    canaries: CanaryTable | None = None,
) -> AuditRun:
    """Insert, fit once (unless `output="copy"`), score, guess, bound.

    `output="copy"`: the "synthetic" table is the training table itself (no DP),
    the power control with perfect recall. `noise_factor` > 1 fits the
    generator with its noise divided by that (`fit_with_reduced_noise`), the
    power control of a generator that adds too little noise for the ε it reports.
    """
    import time

    from generators import create_generator

    ct = canaries if canaries is not None else canary_table(plan)
    fit_s, cuts, cut_by = 0.0, None, ""
    if output == "copy":
        t0 = time.perf_counter()
        scores = scores_from_rows(ct.table, ct.tokens, ct.carriers)
        score_s = time.perf_counter() - t0
    else:
        gen = create_generator(
            plan.kind, epsilon=plan.epsilon, delta=plan.delta, **dict(plan.params)
        )
        with one_thread():
            t0 = time.perf_counter()
            if noise_factor != 1.0:
                cuts, cut_by = fit_with_reduced_noise(gen, ct, noise_factor, (plan.seed, 1))
            else:
                gen.fit(ct.table, ct.schema, rng=np.random.default_rng([plan.seed, 1]))
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = scores_from_generator(gen, ct, plan.sample_rows, seed=plan.seed + 2)
            score_s = time.perf_counter() - t0
    result = audit(
        scores,
        ct.included,
        k_pos=plan.k_pos,
        k_neg=plan.k_neg,
        delta=plan.delta,
        seed=plan.seed + 3,
    )
    return AuditRun(plan, output, result, fit_s, score_s, cuts, cut_by)


# --- the recorded plans -------------------------------------------------------------------

#: dp_marginals: three Adult columns carry each canary's token (the token's signal sums
#: over them, as the budget splits over them). aim: one carrier, so that every round of
#: AIM measures the canary's column (with three, the rounds spread over the columns and
#: the noise/4 control at ε = 1 fell to about 1.1).
CARRIERS_DP_MARGINALS = ("education", "occupation", "native_country")
CARRIERS_AIM = ("education",)
_M = 20_000

PLANS: dict[tuple[str, float], AuditPlan] = {
    # ε = 1: the signal is weak, so guess "in" for the top 2 % only (k₋ = 0: out-canaries and
    # unlucky in-canaries tie at a count of 0, so "out" guesses are little better than coins).
    ("dp_marginals", 1.0): AuditPlan(
        "dp_marginals",
        1.0,
        _M,
        CARRIERS_DP_MARGINALS,
        k_pos=_M // 50,
        k_neg=0,
        sample_rows=2_000_000,
    ),
    # ε = 4: more guesses, since proving ε > 4 needs them (all r right proves ε ≈ ln(r / 3)).
    ("dp_marginals", 4.0): AuditPlan(
        "dp_marginals",
        4.0,
        _M,
        CARRIERS_DP_MARGINALS,
        k_pos=_M // 10,
        k_neg=0,
        sample_rows=2_000_000,
    ),
    ("aim", 1.0): AuditPlan(
        "aim", 1.0, _M, CARRIERS_AIM, k_pos=_M // 50, k_neg=0, sample_rows=4_000_000
    ),
    ("aim", 4.0): AuditPlan(
        "aim", 4.0, _M, CARRIERS_AIM, k_pos=_M // 10, k_neg=0, sample_rows=4_000_000
    ),
    # Small and bounded: DP-SGD on the CPU. Its canaries show only through the DP category
    # frequencies of preprocessing (10 % of ε) and through what one epoch of DP-SGD learns.
    ("dpctgan", 4.0): AuditPlan(
        "dpctgan",
        4.0,
        2_000,
        CARRIERS_AIM,
        k_pos=400,
        k_neg=0,
        sample_rows=20_000,
        base_rows=500,
        params=(
            ("epochs", 1),
            ("batch_size", 250),
            ("generator_dim", (64,)),
            ("discriminator_dim", (64,)),
            ("embedding_dim", 32),
            ("device", "cpu"),
        ),
    ),
}
