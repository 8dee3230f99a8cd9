"""A training request made concrete: which generator, with which params, at which δ.

Everything here is checked before the ledger is charged; every error is the
caller's to fix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from generators import create_generator, generator_class
from generators.base import Generator, default_delta
from generators.limits import check_params
from synth.base.errors import FieldViolation, InvalidArgument, PrivacyError
from synth.base.schema import TableSchema
from synth.core.config import ServiceConfig
from synth.store.records import SourceRecord

#: Set by the request's own fields or by the server (never a client-chosen server path).
_RESERVED = {"epsilon", "delta", "allow_non_private", "checkpoint_dir"}


@dataclass(frozen=True)
class TrainRequest:
    source_id: str
    generator: str = "auto"
    epsilon: float | None = None
    delta: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    display_name: str = ""
    #: A dry run (AIP-163): plan, check and estimate, but create, charge and write nothing.
    validate_only: bool = False


def choose_kind(requested: str, source: SourceRecord, epsilon: float | None, n_rows: int) -> str:
    """Resolve "auto" with the documented rule (generators.auto), when it is installed.

    `n_rows` is the public size (the source's DP count of units), never its exact count.
    """
    if requested and requested != "auto":
        return requested
    try:
        from generators.auto import choose_generator
    except ImportError:
        return "dp_marginals"
    import torch

    kind, _reason = choose_generator(
        source.schema, n_rows, epsilon, gpu_available=torch.cuda.is_available()
    )
    return kind


def auto_reason(
    requested: str, kind: str, schema: TableSchema, n_rows: int, epsilon: float | None
) -> str:
    """Why `kind` trains this request: the rule of generators.auto that picked it, for "auto"."""
    if requested and requested != "auto":
        return "asked for by the request"
    try:
        from generators.auto import choose_generator
    except ImportError:
        return "generators.auto is not installed here: dp_marginals, the fallback"
    import torch

    picked, reason = choose_generator(
        schema, n_rows, epsilon, gpu_available=torch.cuda.is_available()
    )
    return f"auto: {reason}" if picked == kind else f"auto chose {kind}"


@dataclass(frozen=True)
class GeneratorPlan:
    """A checked generator, and the constructor arguments that rebuild it for the fit."""

    generator: Generator
    #: Keyword arguments of the generator's class (ε, the resolved δ, hyper-parameters).
    constructor: dict[str, Any]
    #: The caller's training seed, if any (kept server-side only).
    seed: int | None


def build_generator(
    kind: str, req: TrainRequest, source: SourceRecord, n_rows: int
) -> GeneratorPlan:
    """Check the request and build its generator; every error here is the caller's to fix.

    `n_rows`, the public size, sets δ's default.

    Runs once, at submission: the job stores `constructor`, and the fit
    rebuilds the generator from it without checking again.
    """
    params = dict(req.params)
    bad = sorted(_RESERVED & set(params))
    if bad:
        raise InvalidArgument(
            f"{', '.join(bad)} cannot be set in params: epsilon and delta are the request's own "
            "fields, and the server decides where checkpoints live",
            violations=[FieldViolation(f"params.{b}", "reserved") for b in bad],
        )
    if req.epsilon is not None and not (math.isfinite(req.epsilon) and req.epsilon > 0):
        raise InvalidArgument(
            f"epsilon must be a positive number, got {req.epsilon}",
            violations=[FieldViolation("epsilon", "must be > 0")],
        )
    if req.delta is not None and not 0 < req.delta < 1:
        raise InvalidArgument(
            f"delta must be in (0, 1), got {req.delta}",
            violations=[FieldViolation("delta", "must be in (0, 1)")],
        )
    if req.epsilon is None and not source.allow_non_private:
        raise PrivacyError(
            f"source 'sources/{source.id}' was not registered as allowing non-private models; "
            "give an epsilon, or register internal test data with allow_non_private"
        )
    check_params(kind, params)  # every hyper-parameter within its declared range
    seed = params.pop("seed", None)
    if seed is not None and not isinstance(seed, int | float):
        raise InvalidArgument("params.seed must be an integer")
    cls = generator_class(kind)
    extra: dict[str, Any] = {}
    if cls.non_private:
        extra["allow_non_private"] = source.allow_non_private
    delta = (
        req.delta if req.delta is not None else service_default_delta(req.epsilon, source, n_rows)
    )
    constructor = {"epsilon": req.epsilon, "delta": delta, **extra, **params}
    gen = create_generator(kind, **constructor)
    return GeneratorPlan(gen, constructor, None if seed is None else int(seed))


def service_default_delta(epsilon: float | None, source: SourceRecord, n_rows: int) -> float | None:
    """δ when the request gives none: below 1/(10n), and no larger a share of the δ cap than ε's share.

    So a source whose budget allows k trainings at ε each also has the δ for them.
    """
    if epsilon is None:
        return None
    share = source.delta_cap * min(1.0, epsilon / source.epsilon_cap)
    d = min(default_delta(n_rows), share)
    exp = math.floor(math.log10(d))
    return math.floor(d / 10**exp) * 10**exp


def limit_torch_threads(config: ServiceConfig) -> None:
    """Give each job worker its share of the cores (torch's setting is process-wide)."""
    import torch

    threads = config.torch_threads or max(1, (os.cpu_count() or 1) // max(1, config.job_workers))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
