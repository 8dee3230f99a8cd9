"""What each verb of the `synth` command does (the parser is `synth.cli.parser`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from synth.base.errors import InvalidArgument

DEMO_SAMPLE = Path(__file__).resolve().parents[1] / "demo" / "adult.csv"
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


# ---- output ------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if hasattr(value, "to_json_dict"):
            return value.to_json_dict()
        return out
    if hasattr(value, "to_json_dict"):
        return value.to_json_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def emit(args: argparse.Namespace, value: Any) -> None:
    if getattr(args, "json", False):
        print(json.dumps(jsonable(value), indent=2, ensure_ascii=False))
    elif isinstance(value, list):
        if not value:
            print("(none)")
        for item in value:
            print(item)
    else:
        print(value)


def connect(args: argparse.Namespace) -> Any:
    from synth.client import Client

    return Client.connect(
        args.server,
        token=args.token,
        tls=True if args.tls else None,
        root_certificates=args.ca_cert,
        client_cert=args.client_cert,
        client_key=args.client_key,
    )


# ---- verbs ---------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    from synth import server
    from synth.cli.tokens import server_tls

    options: dict[str, Any] = {"job_workers": args.workers, "job_isolation": args.job_isolation}
    if args.max_source_bytes is not None:
        options["max_source_bytes"] = args.max_source_bytes
    if args.database_url:
        options["database_url"] = args.database_url
    if args.import_root:
        options["import_roots"] = tuple(Path(r).resolve() for r in args.import_root)
    if args.max_concurrent_uploads is not None:
        options["max_concurrent_uploads"] = args.max_concurrent_uploads
    if args.upload_idle_timeout is not None:
        options["upload_idle_timeout_s"] = args.upload_idle_timeout
    try:
        config = server.ServerConfig(data_dir=Path(args.data_dir), **options)
    except ValueError as exc:  # a limit out of its range: the operator's to fix
        raise InvalidArgument(str(exc)) from None
    server.serve_forever(
        Path(args.data_dir),
        port=args.port,
        host=args.host,
        config=config,
        grace=args.grace,
        tls=server_tls(args),
        insecure_remote=args.insecure_allow_remote,
    )
    return 0


def demo(args: argparse.Namespace) -> int:
    from synth.client import Budget, Client
    from synth.core.bootstrap import read_admin_token
    from synth.server import start_server

    if args.rows <= 0:
        raise InvalidArgument(f"--rows must be positive, got {args.rows}")
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="synth-demo-")) if temporary else Path(args.data_dir)
    out = Path(args.out)
    try:
        with (
            start_server(data_dir, port=0) as running,
            Client.connect(running.address, token=read_admin_token(data_dir)) as client,
        ):
            note(args, f"synth demo: an in-process server on {running.address}, data in {data_dir}")
            cap = Budget(epsilon=max(3.0, args.epsilon), delta=1e-5)
            taken = {s.id for s in client.list_sources()}
            source_id = next(
                f"adult-{i}" if i else "adult"
                for i in range(len(taken) + 1)
                if (f"adult-{i}" if i else "adult") not in taken
            )
            src = client.register_source(
                source_id,
                DEMO_SAMPLE,
                budget=cap,
                split_seed=0,
                display_name="UCI Adult (bundled sample)",
            )
            note(args, f"registered {src}")
            # The inferred schema is a proposal (its kinds, nullability and types came
            # from the table). The demo approves it unread; with your own data, review
            # it first: `synth sources schema SOURCE`, then `synth sources approve-schema`.
            src = client.approve_schema(src)
            note(
                args,
                f"approved the proposed schema (version {src.schema_version}) as is: a demo "
                "shortcut; review your own before approving",
            )
            model = client.train(src, generator="dp_marginals", epsilon=args.epsilon).result(
                progress=not args.quiet
            )
            note(args, f"trained {model}")
            ds = client.generate(model, rows=args.rows, seed=args.seed).result(
                progress=not args.quiet
            )
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
    print(f"  schema     version {src.schema_version}, approved as proposed (a demo shortcut)")
    print(f"  privacy    {spent} spent of the cap {budget.cap} ({model.generator})")
    print(f"  model      {model.name}")
    print(f"  dataset    {ds.name}")
    print(f"  output     {path.resolve()}")
    print(str(path.resolve()))
    return 0


def note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
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


def sources_register(args: argparse.Namespace) -> int:
    from synth.client import Budget

    with connect(args) as client:
        src = client.register_source(
            args.source_id,
            args.path,
            uri=args.uri,
            budget=Budget(epsilon=args.epsilon, delta=args.delta),
            schema=args.schema,
            approve_schema=args.approve_schema,
            holdout_fraction=args.holdout_fraction,
            split_seed=args.split_seed,
            allow_non_private=args.allow_non_private,
            display_name=args.display_name,
            progress=not args.quiet,
        )
    emit(args, src)
    return 0


def sources_approve_schema(args: argparse.Namespace) -> int:
    with connect(args) as client:
        src = client.approve_schema(args.source, schema_version=args.version)
    note(args, f"approved schema version {src.schema_version} of {src.name}")
    emit(args, src)
    return 0


def sources_schema(args: argparse.Namespace) -> int:
    with connect(args) as client:
        schema = client.schema(args.source)
    if args.output:
        Path(args.output).write_text(schema.to_json() + "\n", encoding="utf-8")
        print(args.output)
    else:
        print(schema.to_json())
    return 0


def train(args: argparse.Namespace) -> int:
    if args.plan:
        return plan_training(args)
    with connect(args) as client:
        handle = client.train(
            args.source,
            generator=args.generator,
            epsilon=args.epsilon,
            delta=args.delta,
            params=parse_params(args.param),
            idempotency_key=args.idempotency_key,
            display_name=args.display_name,
        )
        if args.wait:
            emit(args, handle.result(progress=not args.quiet))
        else:
            emit(args, handle.last_seen)
    return 0


def plan_training(args: argparse.Namespace) -> int:
    """`synth train --plan`: what the training would do, charging nothing."""
    with connect(args) as client:
        emit(
            args,
            client.plan_training(
                args.source,
                generator=args.generator,
                epsilon=args.epsilon,
                delta=args.delta,
                params=parse_params(args.param),
            ),
        )
    return 0


def generate(args: argparse.Namespace) -> int:
    if args.plan:
        with connect(args) as client:
            emit(args, client.plan_generation(args.model, rows=args.rows))
        return 0
    with connect(args) as client:
        handle = client.generate(
            args.model, rows=args.rows, seed=args.seed, idempotency_key=args.idempotency_key
        )
        if args.wait:
            emit(args, handle.result(progress=not args.quiet))
        else:
            emit(args, handle.last_seen)
    return 0


def download(args: argparse.Namespace) -> int:
    with connect(args) as client:
        path = client.download(args.dataset, path=args.output, progress=not args.quiet)
    print(path)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.plan:
        with connect(args) as client:
            plan = client.plan_evaluation(
                args.dataset, target=args.target, metrics=tuple(args.metric or ())
            )
        emit(args, plan)
        return 0
    with connect(args) as client:
        handle = client.evaluate(
            args.dataset,
            target=args.target,
            metrics=tuple(args.metric or ()),
            seed=args.seed,
            idempotency_key=args.idempotency_key,
        )
        if not args.wait:
            emit(args, handle.last_seen)
            return 0
        evaluation = handle.result(progress=not args.quiet)
        if args.report:
            client.download_report(evaluation, args.report)
    emit(args, evaluation)
    if args.report:
        print(args.report)
    return 0


def evaluations_report(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(client.download_report(args.evaluation, args.output))
    return 0


def jobs_watch(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.job(args.job).wait(progress=not args.quiet)
    emit(args, job)
    return 0 if job.state.value == "SUCCEEDED" else EXIT_FAILED


def simple(call: Callable[[Any, argparse.Namespace], Any]) -> Handler:
    """A verb that makes one client call and prints what it returns."""

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            emit(args, call(client, args))
        return 0

    return run
