"""Render an evaluation's scores as one self-contained HTML page for the source's owner.

No script, no external stylesheet, font or image: charts are inline SVG, so
the file opens offline and can be archived as is. It shows aggregates of the
real data (histograms), so it is for the owner, never for consumers, and
says so in its header; even so it names no value that fewer than
`min_group_rows` real rows hold and no real minimum or maximum (the
aggregates it is given are already cut that way).

The report reads plain data of the shape `ReportData` declares (an
`evaluators.result.EvaluationResult` has it) and never imports the result
module: the result calls the report, not the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Protocol

from evaluators.attacks import AttackResult
from evaluators.fidelity import Fidelity
from evaluators.report import svg
from evaluators.risk import DistanceRisk, ExactMatches, MembershipInference
from evaluators.utility import Detection, Efficacy


class ReportColumn(Protocol):
    """One column's histogram (or top categories) in both tables."""

    @property
    def column(self) -> str: ...
    @property
    def continuous(self) -> bool: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def real(self) -> tuple[float, ...]: ...
    @property
    def synthetic(self) -> tuple[float, ...]: ...
    @property
    def edges(self) -> tuple[float, ...]: ...
    @property
    def null_real(self) -> float: ...
    @property
    def null_synthetic(self) -> float: ...
    @property
    def datetime(self) -> bool: ...
    @property
    def withheld(self) -> int: ...
    @property
    def bounds(self) -> str: ...


class ReportFlag(Protocol):
    """One risk check of the verdict."""

    @property
    def metric(self) -> str: ...
    @property
    def flagged(self) -> bool: ...


class ReportData(Protocol):
    """Everything the report shows: sizes, scores (None when not computed), histograms, flags."""

    @property
    def n_synthetic(self) -> int: ...
    @property
    def n_train(self) -> int: ...
    @property
    def n_holdout(self) -> int: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def fidelity(self) -> Fidelity | None: ...
    @property
    def efficacy(self) -> Efficacy | None: ...
    @property
    def detection(self) -> Detection | None: ...
    @property
    def exact_matches(self) -> ExactMatches | None: ...
    @property
    def distance(self) -> DistanceRisk | None: ...
    @property
    def membership(self) -> MembershipInference | None: ...
    @property
    def attacks(self) -> Sequence[AttackResult]: ...
    @property
    def distributions(self) -> Sequence[ReportColumn]: ...
    @property
    def flags(self) -> Sequence[ReportFlag]: ...
    @property
    def min_group_rows(self) -> int: ...
    @property
    def real_statistics_note(self) -> str: ...

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666;font-size:13px}
.verdict{display:flex;gap:16px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;min-width:160px}
.card .big{font-size:26px;font-weight:600}
.card .head{font-size:20px;font-weight:600;margin-bottom:4px}
.ok{border-left:6px solid #2e8b57}.bad{border-left:6px solid #c0392b}.warn{border-left:6px solid #e0a800}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
td,th{border-bottom:1px solid #eee;padding:6px 8px;text-align:left;vertical-align:middle}
th{background:#fafafa}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
.chart h3{font-size:14px;margin:0 0 4px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.flag{font-weight:600;color:#c0392b}.pass{color:#2e8b57;font-weight:600}
p.explain{font-size:13px;color:#444;max-width:900px}
"""

_EXPLAIN = {
    "exact_matches": "Share of synthetic rows that are an exact copy of a training row. The same share "
                     "against the holdout rows (never seen by the generator) is what chance alone gives.",
    "dcr_share": "For each synthetic row, is its closest real row in the training part or in the holdout "
                 "part? Without memorisation this share sits at the chance level (dashed line: the training "
                 "part's share of all real rows, 50% when both parts are the same size).",
    "membership_auc": "An attacker guesses that a real row was used for training when a synthetic row lies "
                      "close to it. 0.5 means the guess is no better than a coin; 1.0 means every training "
                      "row is exposed.",
    "singling_out": "The attacker writes queries that isolate one synthetic row (e.g. age ≥ 80 and "
                    "occupation = X) and checks whether they isolate exactly one real person. Risk is the "
                    "success on training rows beyond the success on holdout rows.",
    "linkability": "The attacker holds two halves of a person's record and tries to join them through their "
                   "nearest synthetic row. Risk is the success on training rows beyond the holdout rows.",
    "inference": "The attacker knows all columns but a secret one and guesses it from the nearest synthetic "
                 "row. Risk is the success on training rows beyond the holdout rows.",
}


_LABELS = {"exact_matches": "exact copies", "dcr_share": "distance to closest record",
           "membership_auc": "membership inference", "singling_out": "singling out",
           "linkability": "linkability", "inference": "attribute inference"}


def _label(metric: str) -> str:
    base, _, rest = metric.partition("[")
    return _LABELS.get(base, base) + (f" ({rest.rstrip(']')})" if rest else "")


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _verdict(ev: ReportData) -> str:
    cards = []
    flagged = [f for f in ev.flags if f.flagged]
    cls = "bad" if flagged else "ok"
    head = ("Re-identification risk found" if flagged else "No re-identification risk found beyond chance")
    detail = ("flagged by: " + ", ".join(escape(_label(f.metric)) for f in flagged) if flagged
              else "every risk check stays within its margin of chance")
    cards.append(f'<div class="card {cls}" style="flex:1 1 100%"><div class="head">{head}</div>'
                 f'<div class="muted">{detail}</div></div>')
    if ev.fidelity is not None:
        fo = ev.fidelity.overall
        fcls = "ok" if fo >= 0.8 else "warn" if fo >= 0.6 else "bad"
        cards.append(f'<div class="card {fcls}"><div class="muted">Fidelity (quality score)</div>'
                     f'<div class="big">{_pct(fo)}</div><div class="muted">shapes {_pct(ev.fidelity.column_shapes)}'
                     f' · pair trends {_pct(ev.fidelity.column_pair_trends)}</div></div>')
    if ev.efficacy is not None:
        e = ev.efficacy
        cards.append(f'<div class="card"><div class="muted">ML efficacy ({escape(e.target)})</div>'
                     f'<div class="big">{_pct(e.ratio, 0)}</div><div class="muted">{escape(e.metric)} '
                     f'{_num(e.synthetic_score)} vs {_num(e.real_score)} on real</div></div>')
    if ev.detection is not None:
        d = ev.detection.auc
        cards.append(f'<div class="card"><div class="muted">Detection AUC</div><div class="big">{_num(d.value, 2)}'
                     f'</div><div class="muted">0.5: a classifier cannot tell synthetic from real</div></div>')
    return '<section class="verdict">' + "".join(cards) + "</section>"


def _risk_table(ev: ReportData) -> str:
    rows = []
    em = ev.exact_matches
    if em is not None:
        rows.append(("exact_matches", "Exact copies of training rows", em.share_train, em.chance_train, "pct"))
    if ev.distance is not None:
        d = ev.distance
        rows.append(("dcr_share", "Closer to training than to holdout (DCR share)", d.dcr_share,
                     d.dcr_baseline, "pct"))
    if ev.membership is not None:
        rows.append(("membership_auc", "Membership inference AUC", ev.membership.auc, 0.5, "num"))
    for a in ev.attacks:
        label = {"singling_out": "Singling out risk", "linkability": "Linkability risk",
                 "inference": "Attribute inference risk"}[a.attack]
        if "secret" in a.detail:
            label += f" (secret: {a.detail['secret']})"
        rows.append((a.attack, label, a.risk, 0.0, "pct"))
    flags = {f.metric.split("[")[0]: f for f in ev.flags}
    out = ['<table><tr><th>Check</th><th>Value</th><th>95% interval</th><th></th><th>Chance level</th>'
           '<th>Verdict</th></tr>']
    for key, label, est, ref, fmt in rows:
        show = _pct if fmt == "pct" else _num
        f = flags.get(key)
        verdict = '<span class="flag">flagged</span>' if f and f.flagged else '<span class="pass">ok</span>'
        out.append(f"<tr><td>{escape(label)}</td><td>{show(est.value)}</td>"
                   f"<td>{show(est.low)} – {show(est.high)}</td>"
                   f"<td>{svg.interval_bar(est.value, est.low, est.high, ref=ref)}</td>"
                   f"<td>{show(ref)}</td><td>{verdict}</td></tr>")
    out.append("</table>")
    for key in dict.fromkeys(r[0] for r in rows):
        out.append(f'<p class="explain"><b>{escape(key.replace("_", " "))}</b>: {escape(_EXPLAIN[key])}</p>')
    if ev.attacks:
        out.append('<table><tr><th>Attack</th><th>Attacks</th><th>Success on train</th>'
                   '<th>Success on holdout (control)</th><th>Random guess (baseline)</th></tr>')
        for a in ev.attacks:
            name = a.attack + (f" ({a.detail['secret']})" if "secret" in a.detail else "")
            out.append(f"<tr><td>{escape(name)}</td><td>{a.n_attacks}</td><td>{_pct(a.attack_rate.value)}</td>"
                       f"<td>{_pct(a.control_rate.value)}</td><td>{_pct(a.baseline_rate.value)}</td></tr>")
        out.append("</table>")
    if ev.distance is not None:
        d = ev.distance
        out.append(f'<p class="explain">Median distance of a synthetic row to its closest training row: '
                   f'{_num(d.dcr_train_median)}; to its closest holdout row: {_num(d.dcr_holdout_median)}. '
                   f'Median NNDR (closest / second-closest training row): {_num(d.nndr_median)}, 5th percentile '
                   f'{_num(d.nndr_p05)}; values near 0 mean synthetic rows sit on top of single real rows. '
                   f'Computed from {d.n_queries:,} synthetic rows against all training and holdout rows.</p>')
    return "".join(out)


def _fidelity(ev: ReportData) -> str:
    f = ev.fidelity
    out = []
    if f is not None:
        out.append('<p class="explain">Column shapes compare each column\'s distribution (1 − Kolmogorov–Smirnov '
                   'distance for numbers and dates, 1 − total variation distance for categories). Pair trends '
                   'compare how pairs of columns move together (correlations for two numbers, contingency '
                   'tables otherwise). Both use SDMetrics\' definitions; 100% means identical.</p>')
        out.append("<table><tr><th>Column</th><th>Metric</th><th>Score</th></tr>")
        for s in f.shapes:
            out.append(f"<tr><td>{escape(s.column)}</td><td>{s.metric}</td><td>{_pct(s.score)}</td></tr>")
        out.append("</table>")
    out.append('<h2>Distributions: real vs synthetic</h2><p class="legend muted">'
               f'<span style="background:{svg.REAL}"></span>real (training part)'
               f'<span style="background:{svg.SYN}"></span>synthetic</p><div class="grid">')
    for d in ev.distributions:
        if d.continuous:
            ends = (d.labels[0], _last_edge(d)) if d.labels else None
            chart = svg.histogram_overlay(list(d.edges), list(d.real), list(d.synthetic), ends=ends)
        else:
            chart = svg.category_bars(list(d.labels), list(d.real), list(d.synthetic))
        k = ev.min_group_rows
        null_real = f"fewer than {k} rows" if math.isnan(d.null_real) else _pct(d.null_real)
        nulls = (f'<div class="muted">nulls: real {null_real}, synthetic {_pct(d.null_synthetic)}</div>'
                 if d.null_real or d.null_synthetic else "")
        out.append(f'<div class="chart"><h3>{escape(d.column)}</h3>{chart}{nulls}{_withheld(d, k)}</div>')
    out.append("</div>")
    if f is not None and f.pairs:
        names = list(ev.columns)
        vals = {(p.column_1, p.column_2): 1.0 - p.score for p in f.pairs}
        out.append('<h2>Column pair trends: where relations differ</h2><p class="explain">Each cell is '
                   '1 − the pair\'s similarity score: white means the synthetic table keeps the relation '
                   'between the two columns, dark red (≥ 0.5) means it is lost or invented. Hover a cell '
                   'for its value.</p>')
        out.append(f'<div class="chart">{svg.heatmap(names, vals)}</div>')
    return "".join(out)


def _withheld(d: ReportColumn, k: int) -> str:
    """What the chart leaves out of the real data, and where its axis comes from."""
    notes = []
    if d.withheld:
        nouns = ("bin", "bins") if d.continuous else ("category", "categories")
        notes.append(f"{d.withheld} {nouns[d.withheld > 1]} held by fewer than {k} real rows "
                     + ("shown empty for the real data" if d.continuous else "not shown"))
    if d.continuous and d.bounds == "none":
        notes.append("no public or DP bounds: the bins span the synthetic range, unlabelled")
    elif d.continuous and d.bounds == "dp":
        notes.append("axis: the model's DP bounds")
    return "".join(f'<div class="muted">{escape(n)}</div>' for n in notes)


def _last_edge(d: ReportColumn) -> str:
    if d.datetime:
        return datetime.fromtimestamp(d.edges[-1] / 1e9, tz=UTC).strftime("%Y-%m-%d")
    return f"{d.edges[-1]:.4g}"


def _utility(ev: ReportData) -> str:
    out = []
    if ev.efficacy is not None:
        e = ev.efficacy
        out.append(f'<p class="explain"><b>ML efficacy</b>: a model trained on the synthetic rows predicts '
                   f'<i>{escape(e.target)}</i> on the real holdout rows with {escape(e.metric)} '
                   f'{_num(e.synthetic_score)}; the same model trained on the real training rows scores '
                   f'{_num(e.real_score)}. The ratio ({_pct(e.ratio, 0)}) says how much of the real data\'s '
                   f'usefulness the synthetic table keeps (model: L2-regularised linear/softmax regression '
                   f'over one-hot and binned features).</p>')
    if ev.detection is not None:
        d = ev.detection.auc
        out.append(f'<p class="explain"><b>Detection</b>: a classifier trained to tell synthetic rows from real '
                   f'ones reaches ROC AUC {_num(d.value)} (95% interval {_num(d.low)}–{_num(d.high)}). 0.5 is '
                   f'perfect: it cannot tell them apart (classifier: a small neural network, out-of-fold over '
                   f'{ev.detection.n_rows:,} rows of each table).</p>')
    return "".join(out)


def render(ev: ReportData) -> str:
    sizes = (f"{ev.n_synthetic:,} synthetic rows · {ev.n_train:,} training rows · "
             f"{ev.n_holdout:,} holdout rows · {len(ev.columns)} columns scored")
    body = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>Synthetic data evaluation</title><style>{_CSS}</style></head><body><main>",
        f"<h1>Synthetic data evaluation</h1><div class=\"muted\">{sizes}.</div>",
        f'<div class="card warn" id="real-statistics"><b>Contains statistics of the real data.</b> '
        f"{escape(ev.real_statistics_note)}</div>",
        _verdict(ev),
        "<h2>Privacy: re-identification risk</h2>",
        _risk_table(ev),
        "<h2>Fidelity: does it look like the real data?</h2>",
        _fidelity(ev),
    ]
    util = _utility(ev)
    if util:
        body += ["<h2>Usefulness</h2>", util]
    body.append("</main></body></html>")
    return "".join(body)
