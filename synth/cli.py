"""The `synth` command: run the server, run the demo, and the SDK's calls from a shell.

Every verb except `serve` and `demo` talks to a server (`--server`, default
$SYNTH_SERVER or localhost:50051) through `synth.Client`. Errors print one
line to stderr and exit non-zero (2 for bad input); progress bars go to
stderr, results to stdout (`--json` for machine-readable output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from synth.base.errors import InvalidArgument, SynthError

DEMO_SAMPLE = Path(__file__).resolve().parent / "demo" / "adult.csv"
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


# ---- output ------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if hasattr(value, "to_json_dict"):
            return value.to_json_dict()
        return out
    if hasattr(value, "to_json_dict"):
        return value.to_json_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _emit(args: argparse.Namespace, value: Any) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_jsonable(value), indent=2, ensure_ascii=False))
    elif isinstance(value, list):
        if not value:
            print("(none)")
        for item in value:
            print(item)
    else:
        print(value)


def _client(args: argparse.Namespace) -> Any:
    from synth.client import Client

    return Client.connect(args.server)


# ---- verbs ---------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from synth import server

    options: dict[str, Any] = {"job_workers": args.workers}
    if args.max_source_bytes is not None:
        options["max_source_bytes"] = args.max_source_bytes
    if args.database_url:
        options["database_url"] = args.database_url
    config = server.ServerConfig(data_dir=Path(args.data_dir), **options)
    server.serve_forever(Path(args.data_dir), port=args.port, host=args.host, config=config, grace=args.grace)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from synth.client import Budget, Client
    from synth.server import start_server

    if args.rows <= 0:
        raise InvalidArgument(f"--rows must be positive, got {args.rows}")
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="synth-demo-")) if temporary else Path(args.data_dir)
    out = Path(args.out)
    try:
        with start_server(data_dir, port=0) as running, Client.connect(running.address) as client:
            _note(args, f"synth demo: an in-process server on {running.address}, data in {data_dir}")
            cap = Budget(epsilon=max(3.0, args.epsilon), delta=1e-5)
            taken = {s.id for s in client.list_sources()}
            source_id = next(
                f"adult-{i}" if i else "adult" for i in range(len(taken) + 1)
                if (f"adult-{i}" if i else "adult") not in taken
            )
            src = client.register_source(
                source_id, DEMO_SAMPLE, budget=cap, split_seed=0,
                display_name="UCI Adult (bundled sample)",
            )
            _note(args, f"registered {src}")
            model = client.train(src, generator="dp_marginals", epsilon=args.epsilon).result(
                progress=not args.quiet
            )
            _note(args, f"trained {model}")
            ds = client.generate(model, rows=args.rows, seed=args.seed).result(progress=not args.quiet)
            path = client.download(ds, path=out)
            budget = client.budget(src)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    columns = len(src.schema)
    spent = f"ε={budget.spent.epsilon:.4g}, δ={budget.spent.delta:.3g}"
    print("synth demo: a differentially private synthetic copy of UCI Adult")
    print(f"  rows       {ds.rows:,}")
    print(f"  columns    {columns} ({', '.join(src.schema.names[:5])}, ...)")
    print(f"  privacy    {spent} spent of the cap {budget.cap} ({model.generator})")
    print(f"  model      {model.name}")
    print(f"  dataset    {ds.name}")
    print(f"  output     {path.resolve()}")
    print(str(path.resolve()))
    return 0


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--param takes key=value, got {pair!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _sources_register(args: argparse.Namespace) -> int:
    from synth.client import Budget

    with _client(args) as client:
        src = client.register_source(
            args.source_id,
            args.path,
            uri=args.uri,
            budget=Budget(epsilon=args.epsilon, delta=args.delta),
            schema=args.schema,
            holdout_fraction=args.holdout_fraction,
            split_seed=args.split_seed,
            allow_non_private=args.allow_non_private,
            display_name=args.display_name,
            progress=not args.quiet,
        )
    _emit(args, src)
    return 0


def _sources_schema(args: argparse.Namespace) -> int:
    with _client(args) as client:
        schema = client.schema(args.source)
    if args.output:
        Path(args.output).write_text(schema.to_json() + "\n", encoding="utf-8")
        print(args.output)
    else:
        print(schema.to_json())
    return 0


def _train(args: argparse.Namespace) -> int:
    with _client(args) as client:
        handle = client.train(
            args.source,
            generator=args.generator,
            epsilon=args.epsilon,
            delta=args.delta,
            params=_parse_params(args.param),
            idempotency_key=args.idempotency_key,
            display_name=args.display_name,
        )
        if args.wait:
            _emit(args, handle.result(progress=not args.quiet))
        else:
            _emit(args, handle.last_seen)
    return 0


def _generate(args: argparse.Namespace) -> int:
    with _client(args) as client:
        handle = client.generate(
            args.model, rows=args.rows, seed=args.seed, idempotency_key=args.idempotency_key
        )
        if args.wait:
            _emit(args, handle.result(progress=not args.quiet))
        else:
            _emit(args, handle.last_seen)
    return 0


def _download(args: argparse.Namespace) -> int:
    with _client(args) as client:
        path = client.download(args.dataset, path=args.output, progress=not args.quiet)
    print(path)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    with _client(args) as client:
        handle = client.evaluate(
            args.dataset,
            target=args.target,
            metrics=tuple(args.metric or ()),
            seed=args.seed,
            idempotency_key=args.idempotency_key,
        )
        if not args.wait:
            _emit(args, handle.last_seen)
            return 0
        evaluation = handle.result(progress=not args.quiet)
        if args.report:
            client.download_report(evaluation, args.report)
    _emit(args, evaluation)
    if args.report:
        print(args.report)
    return 0


def _evaluations_report(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(client.download_report(args.evaluation, args.output))
    return 0


def _jobs_watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.job(args.job).wait(progress=not args.quiet)
    _emit(args, job)
    return 0 if job.state.value == "SUCCEEDED" else EXIT_FAILED


def _simple(call: Callable[[Any, argparse.Namespace], Any]) -> Handler:
    """A verb that makes one client call and prints what it returns."""

    def run(args: argparse.Namespace) -> int:
        with _client(args) as client:
            _emit(args, call(client, args))
        return 0

    return run


# ---- parser --------------------------------------------------------------------


def _default_server() -> str:
    return os.environ.get("SYNTH_SERVER", "localhost:50051")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=_default_server(),
        help="host:port of the synth server (default $SYNTH_SERVER or localhost:50051)",
    )
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
    p.add_argument("--max-source-bytes", type=int, default=None, help="largest source table accepted")
    p.add_argument(
        "--database-url", default=os.environ.get("SYNTH_DATABASE_URL", ""),
        help="SQLAlchemy URL of the metadata database (default: a SQLite file in --data-dir)",
    )
    p.add_argument("--workers", type=int, default=2, help="job worker threads")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to drain calls on shutdown")
    p.set_defaults(func=_serve)

    p = verbs.add_parser("demo", help="an in-process server, the bundled sample, end to end")
    p.add_argument("--data-dir", default=None, help="keep the server's state here (default: a temp folder)")
    p.add_argument("--rows", type=int, default=10_000, help="synthetic rows to generate")
    p.add_argument("--epsilon", type=float, default=1.0, help="privacy budget of the training")
    p.add_argument("--seed", type=int, default=7, help="sampling seed")
    p.add_argument("--out", default="adult_synth.parquet", help="where to write the Parquet file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)

    _add_sources(verbs, common)
    _add_resource_verbs(verbs, common)
    return parser


def _add_sources(verbs: Any, common: argparse.ArgumentParser) -> None:
    sources = verbs.add_parser("sources", help="register and inspect source tables")
    sv = sources.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sv.add_parser("register", parents=[common], help="register a table with a privacy cap")
    p.add_argument("source_id", help='the id in "sources/{id}" (lower-case letters, digits, -)')
    p.add_argument("path", nargs="?", default=None, help="a local Parquet or CSV file to upload")
    p.add_argument("--uri", default=None, help="a path the server reads instead of an upload")
    p.add_argument("--epsilon", type=float, required=True, help="ε cap for everything trained on it")
    p.add_argument("--delta", type=float, default=1e-6, help="δ cap (default 1e-6)")
    p.add_argument("--schema", default=None, help="a schema JSON file overriding the inferred one")
    p.add_argument("--holdout-fraction", type=float, default=None)
    p.add_argument("--split-seed", type=int, default=None)
    p.add_argument("--allow-non-private", action="store_true")
    p.add_argument("--display-name", default="")
    p.set_defaults(func=_sources_register)

    p = sv.add_parser("list", parents=[common], help="list sources")
    p.set_defaults(func=_simple(lambda c, a: c.list_sources()))
    p = sv.add_parser("get", parents=[common], help="show a source")
    p.add_argument("source")
    p.set_defaults(func=_simple(lambda c, a: c.get_source(a.source)))
    p = sv.add_parser("schema", parents=[common], help="print a source's schema as JSON")
    p.add_argument("source")
    p.add_argument("-o", "--output", default=None, help="write the JSON to this file")
    p.set_defaults(func=_sources_schema)
    p = sv.add_parser("update-schema", parents=[common], help="replace a source's schema")
    p.add_argument("source")
    p.add_argument("schema", help="the edited schema JSON file")
    p.set_defaults(func=_simple(lambda c, a: c.update_schema(a.source, a.schema)))

    p = verbs.add_parser("budget", parents=[common], help="a source's privacy ledger")
    p.add_argument("source")
    p.set_defaults(func=_simple(lambda c, a: c.budget(a.source)))


def _add_resource_verbs(verbs: Any, common: argparse.ArgumentParser) -> None:
    p = verbs.add_parser("train", parents=[common], help="train a generator on a source")
    p.add_argument("source")
    p.add_argument("--generator", default="auto", help="aim, dpctgan, dp_marginals or auto (the rule in generators/auto.py)")
    p.add_argument("--epsilon", type=float, required=True, help="target ε of the training")
    p.add_argument("--delta", type=float, default=None, help="target δ (default below 1/n)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a generator hyper-parameter (repeatable; values are JSON or text)")
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--display-name", default="")
    p.add_argument("--wait", action="store_true", help="wait and print the model")
    p.set_defaults(func=_train)

    p = verbs.add_parser("generate", parents=[common], help="sample rows from a model")
    p.add_argument("model")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--wait", action="store_true", help="wait and print the dataset")
    p.set_defaults(func=_generate)

    p = verbs.add_parser("download", parents=[common], help="download a dataset's Parquet file")
    p.add_argument("dataset")
    p.add_argument("-o", "--output", required=True, help="where to write the file")
    p.set_defaults(func=_download)

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
    p.set_defaults(func=_evaluate)

    evaluations = verbs.add_parser("evaluations", help="list and show evaluations, fetch reports")
    ev = evaluations.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ev.add_parser("list", parents=[common])
    p.add_argument("--parent", default=None, help="only evaluations of this dataset or source")
    p.set_defaults(func=_simple(lambda c, a: c.list_evaluations(parent=a.parent)))
    p = ev.add_parser("get", parents=[common])
    p.add_argument("evaluation")
    p.set_defaults(func=_simple(lambda c, a: c.get_evaluation(a.evaluation)))
    p = ev.add_parser("report", parents=[common], help="download the HTML report")
    p.add_argument("evaluation")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_evaluations_report)

    jobs = verbs.add_parser("jobs", help="list, follow and cancel jobs")
    jv = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = jv.add_parser("list", parents=[common])
    p.add_argument("--target", default=None, help='only jobs on this resource, e.g. "sources/adult"')
    p.add_argument("--state", default=None, help="only jobs in this state, e.g. RUNNING")
    p.set_defaults(func=_simple(lambda c, a: c.list_jobs(target=a.target, state=a.state)))
    for action, call in (
        ("get", lambda c, a: c.get_job(a.job)),
        ("cancel", lambda c, a: c.cancel_job(a.job)),
    ):
        p = jv.add_parser(action, parents=[common])
        p.add_argument("job")
        p.set_defaults(func=_simple(call))
    p = jv.add_parser("watch", parents=[common], help="follow a job until it is done")
    p.add_argument("job")
    p.set_defaults(func=_jobs_watch)

    models = verbs.add_parser("models", help="list and show models")
    mv = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = mv.add_parser("list", parents=[common])
    p.add_argument("--source", default=None)
    p.set_defaults(func=_simple(lambda c, a: c.list_models(source=a.source)))
    p = mv.add_parser("get", parents=[common])
    p.add_argument("model")
    p.set_defaults(func=_simple(lambda c, a: c.get_model(a.model)))

    datasets = verbs.add_parser("datasets", help="list and show datasets")
    dv = datasets.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = dv.add_parser("list", parents=[common])
    p.add_argument("--parent", default=None, help="only datasets of this model or source")
    p.set_defaults(func=_simple(lambda c, a: c.list_datasets(parent=a.parent)))
    p = dv.add_parser("get", parents=[common])
    p.add_argument("dataset")
    p.set_defaults(func=_simple(lambda c, a: c.get_dataset(a.dataset)))


# ---- entry point ---------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `synth` command; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except InvalidArgument as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    except SynthError as exc:
        _error(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("synth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("SYNTH_DEBUG"):
            raise
        print(
            f"synth: internal error: {type(exc).__name__}: {exc} (set SYNTH_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _error(exc: SynthError) -> None:
    line = f"synth: error: {exc.message}"
    extra = [f"{v.field}: {v.description}" for v in exc.violations if v.description not in line]
    if extra:
        line += " [" + "; ".join(extra) + "]"
    print(line.replace("\n", " "), file=sys.stderr)
    if os.environ.get("SYNTH_DEBUG"):
        raise exc
