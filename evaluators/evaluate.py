"""`evaluate`: every fidelity and risk score of a synthetic table, in one call.

The steps are a registry (name → function), so a caller can run a subset
(`metrics=("fidelity",)`) and a new metric plugs in without an if-ladder.
Randomness is injected: one `numpy.random.Generator` (or a seed) from which
every step spawns its own child stream, so a step's result does not depend on
which other steps ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evaluators import attacks as atk
from evaluators.distributions import distributions
from evaluators.encoding import Encoder
from evaluators.fidelity import continuous_values, fidelity
from evaluators.inputs import Inputs, prepare
from evaluators.result import EvaluationResult, Flag
from evaluators.risk import distance_risk, exact_matches, membership_inference
from evaluators.utility import detection, ml_efficacy
from synth.base.errors import InvalidArgument
from synth.base.schema import TableSchema, Tag

#: Called with (step name, fraction of that step done) as each step starts and ends
#: (and within long steps). It may raise `synth.base.errors.Cancelled` to stop the
#: evaluation. Not `synth.base.progress.Progress`, the service's progress record.
StepCallback = Callable[[str, float], None]


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    """Knobs of an evaluation; the defaults fit 100k-row tables in about a minute on 2 cores."""

    #: Confidence level of every interval.
    confidence: float = 0.95
    #: The report and the JSON show no value fewer than this many real rows hold: such
    #: categories, histogram bins and null counts are withheld (counted, never named).
    #: 1 shows everything. The service sets it from `ServiceConfig.min_group_rows`.
    min_group_rows: int = 10
    #: Pairs count in pair trends only when the real data relates them this
    #: strongly (SDMetrics' QualityReport defaults).
    correlation_threshold: float = 0.5
    association_threshold: float = 0.3
    #: Synthetic rows sampled as DCR/NNDR queries (searched against *all* train and holdout rows).
    max_dcr_queries: int | None = 10_000
    #: Train and holdout rows (each) attacked by membership inference.
    max_mia_targets: int | None = 5_000
    singling_out_attacks: int = 500
    singling_out_columns: int = 3
    #: Candidate queries tried before giving up on finding `singling_out_attacks`
    #: that isolate one synthetic row (fewer found: a wider interval, reported as n_attacks).
    singling_out_max_attempts: int = 50_000
    linkability_attacks: int = 1_000
    linkability_neighbors: int = 1
    #: The two column groups the linkability attacker holds; None: quasi-identifiers
    #: tagged in the schema, else all columns split in two alternating halves.
    linkability_columns: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    inference_attacks: int = 1_000
    #: Secret columns for attribute inference; None: columns tagged sensitive,
    #: else the ML target, else the last column.
    secrets: tuple[str, ...] | None = None
    detection_rows: int = 5_000
    efficacy_rows: int = 20_000
    #: Margins beyond chance before a risk check flags.
    dcr_margin: float = 0.05
    mia_margin: float = 0.05
    attack_risk_ceiling: float = 0.05
    exact_match_margin: float = 0.01


@dataclass
class _Context:
    inputs: Inputs
    target: str | None
    options: EvaluateOptions
    rng: np.random.Generator
    progress: StepCallback | None
    results: dict[str, Any] = field(default_factory=dict)
    _enc: tuple[np.ndarray, np.ndarray, np.ndarray, Encoder] | None = None

    def tick(self, phase: str) -> Callable[[float], None] | None:
        p = self.progress
        if p is None:
            return None
        return lambda f: p(phase, f)

    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, Encoder]:
        """Synthetic, train and holdout rows in the mixed-type distance encoding (computed once)."""
        if self._enc is None:
            i = self.inputs
            assert i.holdout is not None
            enc = Encoder(i.columns).fit(i.train, i.synthetic, i.holdout)
            self._enc = (enc.transform(i.synthetic), enc.transform(i.train), enc.transform(i.holdout), enc)
        return self._enc


def _fidelity(ctx: _Context) -> None:
    o = ctx.options
    ctx.results["fidelity"] = fidelity(ctx.inputs, correlation_threshold=o.correlation_threshold,
                                       association_threshold=o.association_threshold)


def _efficacy(ctx: _Context) -> None:
    if ctx.target is not None:
        ctx.results["efficacy"] = ml_efficacy(ctx.inputs, ctx.target, max_rows=ctx.options.efficacy_rows,
                                              rng=ctx.rng)


def _detection(ctx: _Context) -> None:
    ctx.results["detection"] = detection(ctx.inputs, max_rows=ctx.options.detection_rows, rng=ctx.rng,
                                         confidence=ctx.options.confidence)


def _exact(ctx: _Context) -> None:
    i = ctx.inputs
    assert i.holdout is not None
    ctx.results["exact_matches"] = exact_matches(i.synthetic, i.train, i.holdout,
                                                 confidence=ctx.options.confidence)


def _distance(ctx: _Context) -> None:
    s, t, h, _ = ctx.encoded()
    ctx.results["distance"] = distance_risk(s, t, h, max_queries=ctx.options.max_dcr_queries, rng=ctx.rng,
                                            confidence=ctx.options.confidence, tick=ctx.tick("distance"))


def _membership(ctx: _Context) -> None:
    s, t, h, _ = ctx.encoded()
    ctx.results["membership"] = membership_inference(
        s, t, h, max_targets=ctx.options.max_mia_targets, rng=ctx.rng,
        confidence=ctx.options.confidence, tick=ctx.tick("membership"))


def _columns_table(ctx: _Context, df: pl.DataFrame, enc: Encoder) -> atk.Columns:
    values, cont, nulls = [], [], []
    for col in enc.codes:
        if col.continuous:
            values.append(continuous_values(df[col.name]))
            nulls.append(-1)
        else:
            values.append(enc.integer_codes(df, col))
            nulls.append(col.categories.index(None) if None in col.categories else -1)
        cont.append(col.continuous)
    return atk.Columns(tuple(values), tuple(cont), tuple(nulls))


def _singling_out(ctx: _Context) -> None:
    i, o = ctx.inputs, ctx.options
    assert i.holdout is not None
    enc = ctx.encoded()[3]
    tables = [_columns_table(ctx, df, enc) for df in (i.synthetic, i.train, i.holdout)]
    ctx.results.setdefault("attacks", []).append(atk.singling_out(
        *tables, n_attacks=o.singling_out_attacks, n_cols=o.singling_out_columns, rng=ctx.rng,
        confidence=o.confidence, max_attempts=o.singling_out_max_attempts))


def _linkability(ctx: _Context) -> None:
    o = ctx.options
    s, t, h, enc = ctx.encoded()
    groups = o.linkability_columns
    if groups is None:
        cols = [c.name for c in ctx.inputs.columns if Tag.QUASI_IDENTIFIER in c.tags]
        if len(cols) < 2:
            cols = ctx.inputs.schema.names
        groups = (tuple(cols[0::2]), tuple(cols[1::2]))
    if not groups[0] or not groups[1]:
        return
    for g in groups:
        unknown = [c for c in g if c not in ctx.inputs.schema.names]
        if unknown:
            raise InvalidArgument(f"linkability columns {unknown} are not scored columns")
    res = atk.linkability(s, t, h, (enc.dims_of(list(groups[0])), enc.dims_of(list(groups[1]))),
                          n_attacks=o.linkability_attacks, n_neighbors=o.linkability_neighbors,
                          rng=ctx.rng, confidence=o.confidence)
    detail = {**res.detail, "columns": [list(groups[0]), list(groups[1])]}
    ctx.results.setdefault("attacks", []).append(
        atk.AttackResult(res.attack, res.n_attacks, res.attack_rate, res.control_rate,
                         res.baseline_rate, res.risk, detail))


def _inference(ctx: _Context) -> None:
    o = ctx.options
    i = ctx.inputs
    assert i.holdout is not None
    s, t, h, enc = ctx.encoded()
    names = i.schema.names
    secrets = o.secrets
    if secrets is None:
        tagged = tuple(c.name for c in i.columns if Tag.SENSITIVE in c.tags)
        secrets = tagged or ((ctx.target,) if ctx.target else (names[-1],))
    if len(names) < 2:
        return
    tables = [_columns_table(ctx, df, enc) for df in (i.synthetic, i.train, i.holdout)]
    for secret in secrets:
        if secret not in names:
            raise InvalidArgument(f"secret column {secret!r} is not a scored column")
        j = names.index(secret)
        aux = enc.dims_of([n for n in names if n != secret])
        res = atk.inference(s, t, h, aux, tables[0].values[j], tables[1].values[j], tables[2].values[j],
                            continuous=tables[0].continuous[j], n_attacks=o.inference_attacks,
                            rng=ctx.rng, confidence=o.confidence)
        ctx.results.setdefault("attacks", []).append(
            atk.AttackResult(res.attack, res.n_attacks, res.attack_rate, res.control_rate,
                             res.baseline_rate, res.risk, {"secret": secret}))


#: name → step. Order is the order of the report.
STEPS: dict[str, Callable[[_Context], None]] = {
    "fidelity": _fidelity,
    "efficacy": _efficacy,
    "detection": _detection,
    "exact_matches": _exact,
    "distance": _distance,
    "membership": _membership,
    "singling_out": _singling_out,
    "linkability": _linkability,
    "inference": _inference,
}


def register_step(name: str, step: Callable[[_Context], None]) -> None:
    """Plug in another metric; it reads `ctx.inputs` and writes into `ctx.results`."""
    STEPS[name] = step


def evaluate(
    synthetic: Any,
    train: Any,
    holdout: Any,
    *,
    schema: TableSchema | None = None,
    target: str | None = None,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    options: EvaluateOptions | None = None,
    metrics: tuple[str, ...] | None = None,
    progress: StepCallback | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> EvaluationResult:
    """Score `synthetic` against the `train` table it was learnt from and the unseen `holdout`.

    Tables may be pyarrow Tables, polars or pandas DataFrames with the same
    columns. `schema` (inferred from train when None) says each column's kind;
    id and PII columns are not scored. `target` names the column ML efficacy
    predicts (skipped when None). Give `rng` or `seed` (default seed 0): the
    same inputs and seed give the same numbers. Raises
    `synth.base.errors.InvalidArgument` for tables that cannot be compared.

    The result holds aggregates of the real rows, never a value fewer than
    `options.min_group_rows` of them hold, nor a real minimum or maximum: the
    histograms' edges are the schema's declared bounds, else `bounds` (the
    model's DP bounds, {column: (lower, upper)}, datetimes in epoch seconds as
    in the schema), else not shown.
    """
    if rng is not None and seed is not None:
        raise InvalidArgument("give rng or seed, not both")
    root = rng if rng is not None else np.random.default_rng(0 if seed is None else seed)
    opts = options or EvaluateOptions()
    if opts.min_group_rows < 1:
        raise InvalidArgument(f"min_group_rows must be at least 1, got {opts.min_group_rows}")
    if holdout is None:
        raise InvalidArgument("evaluation needs the holdout table: it is the chance level of every risk")
    inputs = prepare(synthetic, train, holdout, schema=schema)
    chosen = tuple(STEPS) if metrics is None else metrics
    unknown = [m for m in chosen if m not in STEPS]
    if unknown:
        raise InvalidArgument(f"unknown metrics {unknown}; known are {list(STEPS)}")
    ctx = _Context(inputs, target, opts, root, progress)
    seconds = _run_steps(ctx, chosen, root)
    r = ctx.results
    assert inputs.holdout is not None
    return EvaluationResult(
        n_synthetic=inputs.synthetic.height,
        n_train=inputs.train.height,
        n_holdout=inputs.holdout.height,
        columns=tuple(inputs.schema.names),
        fidelity=r.get("fidelity"),
        efficacy=r.get("efficacy"),
        detection=r.get("detection"),
        exact_matches=r.get("exact_matches"),
        distance=r.get("distance"),
        membership=r.get("membership"),
        attacks=tuple(r.get("attacks", ())),
        distributions=distributions(inputs, min_rows=opts.min_group_rows, bounds=bounds),
        flags=tuple(_flags(r, opts)),
        options={**asdict(opts), "metrics": list(chosen), "target": target},
        seconds=seconds,
        min_group_rows=opts.min_group_rows,
    )


def _run_steps(ctx: _Context, chosen: tuple[str, ...], root: np.random.Generator) -> dict[str, float]:
    """Run the chosen steps in the registry's order; return each one's seconds.

    Every registered step gets its own child stream of `root`, chosen or not,
    so a step's numbers do not depend on which other steps ran.
    """
    seconds: dict[str, float] = {}
    children = root.spawn(len(STEPS))
    for (name, step), child in zip(STEPS.items(), children, strict=True):
        if name not in chosen:
            continue
        if ctx.progress is not None:
            ctx.progress(name, 0.0)
        ctx.rng = child
        t0 = time.perf_counter()
        step(ctx)
        seconds[name] = time.perf_counter() - t0
        if ctx.progress is not None:
            ctx.progress(name, 1.0)
    return seconds


def _flags(r: dict[str, Any], o: EvaluateOptions) -> list[Flag]:
    """Each risk check against its chance level plus a margin; flagged when the interval clears it."""
    out = []
    em = r.get("exact_matches")
    if em is not None:
        thr = max(em.chance_train, em.share_holdout.high) + o.exact_match_margin
        out.append(Flag("exact_matches", em.share_train.value, thr, em.share_train.low > thr,
                        "share of synthetic rows that copy a train row, against the holdout's share"))
    d = r.get("distance")
    if d is not None:
        thr = d.dcr_baseline + o.dcr_margin
        out.append(Flag("dcr_share", d.dcr_share.value, thr, d.dcr_share.low > thr,
                        "share of synthetic rows closer to train than to holdout"))
    m = r.get("membership")
    if m is not None:
        thr = 0.5 + o.mia_margin
        out.append(Flag("membership_auc", m.auc.value, thr, m.auc.low > thr,
                        "how well distance to the synthetic table tells train rows from holdout rows"))
    for a in r.get("attacks", ()):
        name = a.attack + (f"[{a.detail['secret']}]" if "secret" in a.detail else "")
        v = a.risk.value
        out.append(Flag(name, v, o.attack_risk_ceiling,
                        (not math.isnan(a.risk.low)) and a.risk.low > o.attack_risk_ceiling,
                        "attack success on train beyond its success on holdout"))
    return out
