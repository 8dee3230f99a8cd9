"""The `synth` command's parser: every verb, its arguments and its handler."""

from __future__ import annotations

import argparse
import os
from typing import Any

from synth.cli import commands
from synth.cli.audit import add_audit_verbs
from synth.cli.policy import add_policy_verbs
from synth.cli.tokens import add_connection_options, add_tls_options, add_token_verbs

# ---- parser --------------------------------------------------------------------


def _default_server() -> str:
    return os.environ.get("SYNTH_SERVER", "localhost:50051")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=_default_server(),
        help="host:port of the synth server (default $SYNTH_SERVER or localhost:50051)",
    )
    add_connection_options(common)
    common.add_argument("--json", action="store_true", help="print results as JSON")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    parser = argparse.ArgumentParser(
        prog="synth", description="Differentially private synthetic tables as a service."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("serve", help="run the gRPC server until SIGINT/SIGTERM")
    p.add_argument("--port", type=int, default=50051)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    p.add_argument("--data-dir", default="./synth-data", help="metadata and artifacts live here")
    p.add_argument(
        "--max-source-bytes", type=int, default=None, help="largest source table accepted"
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("SYNTH_DATABASE_URL", ""),
        help="SQLAlchemy URL of the metadata database (default: a SQLite file in --data-dir)",
    )
    p.add_argument("--workers", type=int, default=2, help="job worker threads")
    p.add_argument(
        "--job-isolation",
        choices=("process", "thread"),
        default="process",
        help="run each job in a child process (cancel kills it, memory capped) or a thread",
    )
    p.add_argument("--grace", type=float, default=10.0, help="seconds to drain calls on shutdown")
    p.add_argument(
        "--import-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose files uri= registrations may read (repeatable; default: none, "
        "server-side paths are off; the data folder is never readable)",
    )
    p.add_argument(
        "--max-concurrent-uploads",
        type=int,
        default=None,
        help="RegisterSource streams at once (default 8); past it RESOURCE_EXHAUSTED",
    )
    p.add_argument(
        "--upload-idle-timeout",
        type=float,
        default=None,
        help="seconds an upload may wait for its next message (default 30)",
    )
    add_tls_options(p)
    p.set_defaults(func=commands.serve)

    p = verbs.add_parser("demo", help="an in-process server, the bundled sample, end to end")
    p.add_argument(
        "--data-dir", default=None, help="keep the server's state here (default: a temp folder)"
    )
    p.add_argument("--rows", type=int, default=10_000, help="synthetic rows to generate")
    p.add_argument("--epsilon", type=float, default=1.0, help="privacy budget of the training")
    p.add_argument("--seed", type=int, default=7, help="sampling seed")
    p.add_argument("--out", default="adult_synth.parquet", help="where to write the Parquet file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=commands.demo)

    add_token_verbs(verbs)
    add_audit_verbs(verbs)
    _add_sources(verbs, common)
    _add_resource_verbs(verbs, common)
    _add_listings(verbs, common)
    add_policy_verbs(verbs, common)
    return parser


def _add_sources(verbs: Any, common: argparse.ArgumentParser) -> None:
    sources = verbs.add_parser("sources", help="register and inspect source tables")
    sv = sources.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sv.add_parser("register", parents=[common], help="register a table with a privacy cap")
    p.add_argument("source_id", help='the id in "sources/{id}" (lower-case letters, digits, -)')
    p.add_argument("path", nargs="?", default=None, help="a local Parquet or CSV file to upload")
    p.add_argument("--uri", default=None, help="a path the server reads instead of an upload")
    p.add_argument(
        "--epsilon", type=float, required=True, help="ε cap for everything trained on it"
    )
    p.add_argument("--delta", type=float, default=1e-6, help="δ cap (default 1e-6)")
    p.add_argument("--schema", default=None, help="a schema JSON file overriding the inferred one")
    p.add_argument(
        "--approve-schema",
        action="store_true",
        help="approve --schema as given (every column's arrow_type declared); without it "
        "the schema is pending until `synth sources approve-schema`",
    )
    p.add_argument("--holdout-fraction", type=float, default=None)
    p.add_argument("--split-seed", type=int, default=None)
    p.add_argument("--allow-non-private", action="store_true")
    p.add_argument("--display-name", default="")
    p.set_defaults(func=commands.sources_register)

    p = sv.add_parser("list", parents=[common], help="list sources")
    p.set_defaults(func=commands.simple(lambda c, a: c.list_sources()))
    p = sv.add_parser("get", parents=[common], help="show a source")
    p.add_argument("source")
    p.set_defaults(func=commands.simple(lambda c, a: c.get_source(a.source)))
    p = sv.add_parser("schema", parents=[common], help="print a source's schema as JSON")
    p.add_argument("source")
    p.add_argument("-o", "--output", default=None, help="write the JSON to this file")
    p.set_defaults(func=commands.sources_schema)
    p = sv.add_parser("update-schema", parents=[common], help="replace a source's schema")
    p.add_argument("source")
    p.add_argument("schema", help="the edited schema JSON file")
    p.add_argument(
        "--approve", action="store_true", help="approve the edited schema in the same call"
    )
    p.set_defaults(
        func=commands.simple(lambda c, a: c.update_schema(a.source, a.schema, approve=a.approve))
    )
    p = sv.add_parser(
        "approve-schema",
        parents=[common],
        help="approve a source's schema after reviewing it (training needs an approved schema)",
    )
    p.add_argument("source")
    p.add_argument(
        "--version",
        type=int,
        default=None,
        help="the schema version you reviewed (default: the current one, as `sources get` shows)",
    )
    p.set_defaults(func=commands.sources_approve_schema)

    p = verbs.add_parser("budget", parents=[common], help="a source's privacy ledger")
    p.add_argument("source")
    p.set_defaults(func=commands.simple(lambda c, a: c.budget(a.source)))


def _add_resource_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    """The verbs that start work: train, generate, download, evaluate."""
    p = verbs.add_parser("train", parents=[common], help="train a generator on a source")
    p.add_argument("source")
    p.add_argument(
        "--generator",
        default="auto",
        help="aim, dpctgan, dp_marginals or auto (the rule in generators/auto.py)",
    )
    p.add_argument("--epsilon", type=float, required=True, help="target ε of the training")
    p.add_argument("--delta", type=float, default=None, help="target δ (default below 1/n)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a generator hyper-parameter (repeatable; values are JSON or text)",
    )
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--display-name", default="")
    p.add_argument("--wait", action="store_true", help="wait and print the model")
    p.add_argument(
        "--plan",
        action="store_true",
        help="a dry run: print the generator, charges and estimates; charge and start nothing",
    )
    p.set_defaults(func=commands.train)

    p = verbs.add_parser("generate", parents=[common], help="sample rows from a model")
    p.add_argument("model")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--wait", action="store_true", help="wait and print the dataset")
    p.add_argument(
        "--plan", action="store_true", help="a dry run: print the estimates; start nothing"
    )
    p.set_defaults(func=commands.generate)

    p = verbs.add_parser("download", parents=[common], help="download a dataset's Parquet file")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", required=True, help="where to write the file")
    p.set_defaults(func=commands.download)

    p = verbs.add_parser(
        "evaluate", parents=[common], help="score a dataset for fidelity and re-identification risk"
    )
    p.add_argument("dataset")
    p.add_argument("--target", default=None, help="the column ML efficacy predicts")
    p.add_argument("--metric", action="append", help="run only these metrics (repeatable)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--wait", action="store_true", help="wait and print the scores")
    p.add_argument("--report", default=None, help="with --wait: write the HTML report here")
    p.add_argument(
        "--plan", action="store_true", help="a dry run: print the estimates; start nothing"
    )
    p.set_defaults(func=commands.evaluate)


def _add_listings(verbs: Any, common: argparse.ArgumentParser) -> None:
    """The read verbs of evaluations, jobs, models and datasets."""
    evaluations = verbs.add_parser("evaluations", help="list and show evaluations, fetch reports")
    ev = evaluations.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ev.add_parser("list", parents=[common])
    p.add_argument("--parent", default=None, help="only evaluations of this dataset or source")
    p.set_defaults(func=commands.simple(lambda c, a: c.list_evaluations(parent=a.parent)))
    p = ev.add_parser("get", parents=[common])
    p.add_argument("evaluation")
    p.set_defaults(func=commands.simple(lambda c, a: c.get_evaluation(a.evaluation)))
    p = ev.add_parser("report", parents=[common], help="download the HTML report")
    p.add_argument("evaluation")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=commands.evaluations_report)

    jobs = verbs.add_parser("jobs", help="list, follow and cancel jobs")
    jv = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = jv.add_parser("list", parents=[common])
    p.add_argument(
        "--target", default=None, help='only jobs on this resource, e.g. "sources/adult"'
    )
    p.add_argument("--state", default=None, help="only jobs in this state, e.g. RUNNING")
    p.set_defaults(func=commands.simple(lambda c, a: c.list_jobs(target=a.target, state=a.state)))
    for action, call in (
        ("get", lambda c, a: c.get_job(a.job)),
        ("cancel", lambda c, a: c.cancel_job(a.job)),
    ):
        p = jv.add_parser(action, parents=[common])
        p.add_argument("job")
        p.set_defaults(func=commands.simple(call))
    p = jv.add_parser("watch", parents=[common], help="follow a job until it is done")
    p.add_argument("job")
    p.set_defaults(func=commands.jobs_watch)

    models = verbs.add_parser("models", help="list and show models")
    mv = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = mv.add_parser("list", parents=[common])
    p.add_argument("--source", default=None)
    p.set_defaults(func=commands.simple(lambda c, a: c.list_models(source=a.source)))
    p = mv.add_parser("get", parents=[common])
    p.add_argument("model")
    p.set_defaults(func=commands.simple(lambda c, a: c.get_model(a.model)))

    datasets = verbs.add_parser("datasets", help="list and show datasets")
    dv = datasets.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = dv.add_parser("list", parents=[common])
    p.add_argument("--parent", default=None, help="only datasets of this model or source")
    p.set_defaults(func=commands.simple(lambda c, a: c.list_datasets(parent=a.parent)))
    p = dv.add_parser("get", parents=[common])
    p.add_argument("dataset")
    p.set_defaults(func=commands.simple(lambda c, a: c.get_dataset(a.dataset)))
