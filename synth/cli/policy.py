"""`synth policy set|get|check`: a source's release policy and the verdict on a dataset.

`check` exits 0 when the dataset meets the policy, 1 when a rule fails (each
failed rule printed with its reason), 2 for bad input: a pipeline gates on it.
"""

from __future__ import annotations

import argparse
from typing import Any

from synth.cli import commands
from synth.client.releases import THRESHOLDS


def add_policy_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    policy = verbs.add_parser(
        "policy", help="a source's release policy, and the verdict on a dataset"
    )
    pv = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = pv.add_parser("get", parents=[common], help="show the latest (or a named) policy version")
    p.add_argument("source", help="sources/ID")
    p.add_argument("--version", type=int, default=None, help="a version (0: the server default)")
    p.set_defaults(
        func=commands.simple(lambda c, a: c.get_release_policy(a.source, version=a.version))
    )

    p = pv.add_parser(
        "set",
        parents=[common],
        help="store a new policy version: the server default with the thresholds given",
    )
    p.add_argument("source", help="sources/ID")
    for name in THRESHOLDS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=None)
    p.add_argument(
        "--protected",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a protected column whose groups must each keep their scores (repeatable)",
    )
    p.add_argument("--approvals", type=int, default=None, help="approvals required (0-10)")
    p.set_defaults(func=_set)

    p = pv.add_parser(
        "check",
        parents=[common],
        help="judge a dataset's latest evaluation (or an evaluation) by the policy; exit 1 on fail",
    )
    p.add_argument("name", help="datasets/ID or evaluations/ID")
    p.add_argument("--policy-version", type=int, default=None, help="default: the latest")
    p.set_defaults(func=_check)


def _set(args: argparse.Namespace) -> int:
    thresholds = {n: getattr(args, n) for n in THRESHOLDS if getattr(args, n) is not None}
    with commands.connect(args) as client:
        commands.emit(
            args,
            client.set_release_policy(
                args.source,
                protected_columns=tuple(args.protected),
                approvals_required=args.approvals,
                **thresholds,
            ),
        )
    return 0


def _check(args: argparse.Namespace) -> int:
    with commands.connect(args) as client:
        verdict = client.evaluate_policy(args.name, policy_version=args.policy_version)
    commands.emit(args, verdict)
    return 0 if verdict.passed else 1
