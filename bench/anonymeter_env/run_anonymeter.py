"""Run anonymeter's three evaluators on Parquet files; print one JSON object.

Runs inside anonymeter's own virtualenv (see setup.sh), never imported by synth.
Usage: run_anonymeter.py SYN TRAIN HOLDOUT --secret COL --link-a c1,c2 --link-b c3,c4
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import pandas as pd
from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("syn")
    ap.add_argument("train")
    ap.add_argument("holdout")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--link-a", required=True)
    ap.add_argument("--link-b", required=True)
    ap.add_argument("--singling-out", type=int, default=500)
    ap.add_argument("--linkability", type=int, default=1000)
    ap.add_argument("--inference", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    syn, ori, ctl = (pd.read_parquet(p) for p in (a.syn, a.train, a.holdout))
    out = {}
    warnings.filterwarnings("ignore")

    def record(name, ev, t0):
        r = ev.results()
        risk = ev.risk()
        out[name] = {
            "risk": risk.value, "ci": list(risk.ci), "seconds": time.perf_counter() - t0,
            "attack_rate": r.attack_rate.value, "control_rate": None if r.control_rate is None else r.control_rate.value,
            "baseline_rate": r.baseline_rate.value,
            "n_attacks": getattr(r, "n_attacks", getattr(r, "n_attacks_ori", None)),
        }

    t0 = time.perf_counter()
    ev = SinglingOutEvaluator(ori=ori, syn=syn, control=ctl, n_attacks=a.singling_out, n_cols=3, seed=a.seed)
    record("singling_out", ev.evaluate(mode="multivariate"), t0)
    t0 = time.perf_counter()
    ev = LinkabilityEvaluator(ori=ori, syn=syn, control=ctl, n_attacks=a.linkability,
                              aux_cols=(a.link_a.split(","), a.link_b.split(",")), n_neighbors=1)
    record("linkability", ev.evaluate(n_jobs=2), t0)
    t0 = time.perf_counter()
    aux = [c for c in ori.columns if c != a.secret]
    ev = InferenceEvaluator(ori=ori, syn=syn, control=ctl, aux_cols=aux, secret=a.secret, n_attacks=a.inference)
    record("inference", ev.evaluate(n_jobs=2), t0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
