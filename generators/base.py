"""The generator contract: plan the privacy spend, fit, sample, save, load.

Template method with a small base (the shape of SDV's `BaseSynthesizer`,
not its size): subclasses implement `_plan`, `_fit`, `_sample_modelled`,
`_state` and `_from_state`; the base handles what every generator shares:
checking the table against the schema, ids and PII columns (regenerated,
never learnt), casting back to the schema's Arrow types, and persistence
as JSON plus safetensors (never pickle).
"""

from __future__ import annotations

import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import pyarrow as pa
from safetensors.numpy import load_file, save_file

from generators.columns import cast_columns, unmodelled_columns
from generators.privacy.units import bound_contributions, rows_per_unit
from synth.base.atomic import atomic_path, write_bytes_atomic
from synth.base.errors import InvalidArgument, PrivacyError
from synth.base.progress import ProgressFn, no_progress
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.spend import Spend

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class PrivacyReport:
    """What a fitted model spent. `epsilon is None` means the model is not DP."""

    epsilon: float | None
    delta: float | None
    accountant: str
    spends: tuple[Spend, ...] = ()
    details: Mapping[str, float] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spends"] = [asdict(s) for s in self.spends]
        d["details"] = dict(self.details)
        return d

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> PrivacyReport:
        return cls(
            epsilon=d["epsilon"],
            delta=d["delta"],
            accountant=d["accountant"],
            spends=tuple(Spend(**s) for s in d.get("spends", ())),
            details=dict(d.get("details", {})),
        )


_T = TypeVar("_T")


def renamed_keyword(
    owner: str, old: str, old_value: _T | None, new: str, new_value: _T, default: _T
) -> _T:
    """A constructor keyword's value, still accepting its old name for one release.

    The old name warns (DeprecationWarning); giving both names is refused.
    """
    if old_value is None:
        return new_value
    if new_value != default:
        raise InvalidArgument(f"{owner}: give {new} only ({old} is its deprecated old name)")
    warnings.warn(
        f"{owner}({old}=...) is deprecated and will be removed; use {new}=...",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value


def default_delta(n_rows: int) -> float:
    """A δ well below 1/n: 1 / (n · 10), rounded down to one significant figure."""
    d = 1.0 / (max(n_rows, 1) * 10)
    exp = math.floor(math.log10(d))
    return math.floor(d / 10**exp) * 10**exp


class Generator(ABC):
    """Base class of all generators. Construct with hyper-parameters, then `fit`."""

    kind: ClassVar[str]
    version: ClassVar[str] = "1"

    # --- what a generator supports: the service reads these, never the signature ---

    #: Takes `checkpoint_dir` and `checkpoint_every`, and has a `resume` classmethod that
    #: finishes a stopped fit from its last checkpoint.
    checkpointing: ClassVar[bool] = False
    #: Takes `allow_non_private` and, given `allow_non_private=True`, fits with
    #: `epsilon=None` (a model with no DP guarantee, for sources that allow one).
    non_private: ClassVar[bool] = False
    #: The devices it can fit on; one that lists "cuda" also takes a `device` argument.
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    #: Hyper-parameters renamed since a model could be saved, {old name: new name}: `load`
    #: reads a saved model's params under their new names (no warning for stored data).
    _renamed_params: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *, epsilon: float | None, delta: float | None = None) -> None:
        if epsilon is not None and not (epsilon > 0 and math.isfinite(epsilon)):
            raise InvalidArgument(f"epsilon must be a positive number, got {epsilon}")
        if delta is not None and not 0 < delta < 1:
            raise InvalidArgument(f"delta must be in (0, 1), got {delta}")
        self.epsilon = epsilon
        self.delta = delta
        self.schema: TableSchema | None = None
        self.privacy: PrivacyReport | None = None
        #: The public size the fit used: a DP count of privacy units (the service's), or the
        #: table's own count of units when the caller gave none (then treated as public).
        self.n_train_rows: int = 0

    # --- public API ------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The hyper-parameters, JSON-serialisable (subclasses extend)."""
        return {"epsilon": self.epsilon, "delta": self.delta}

    def resolved_delta(self, n_rows: int) -> float | None:
        if self.epsilon is None:
            return None
        return self.delta if self.delta is not None else default_delta(n_rows)

    def plan(self, schema: TableSchema, n_rows: int) -> list[Spend]:
        """The charges `fit` will make, from public facts only (schema, public size).

        `n_rows` is the size as public knowledge: a DP count of privacy units
        (`generators.privacy.units.measure_size`) or a declared one, never a
        private table's exact count; `fit` must get the same as `size`.

        The service writes these to the ledger before the job reads any row,
        so every refusal `fit` would make from these facts and the
        hyper-parameters alone is made here, before the charge (an empty
        table, nothing to model, `_check`, and each generator's `_plan`):
        a fit refused after the charge has spent budget on nothing.
        """
        if n_rows < 1:
            raise InvalidArgument("cannot fit a generator on an empty table")
        if not schema.modelled():
            raise InvalidArgument("the schema marks every column as id or PII: nothing to model")
        _ = schema.max_rows_per_unit  # refuses a contribution bound still "auto"
        self._check(schema, n_rows)
        if self.epsilon is None:
            return []
        delta = self.resolved_delta(n_rows)
        assert delta is not None
        if delta >= 1.0 / max(n_rows, 1):
            raise PrivacyError(
                f"delta={delta:g} is not below 1/n = {1 / n_rows:g}; such a delta allows "
                "releasing a row outright. Use a smaller delta."
            )
        spends = self._plan(schema, n_rows, self.epsilon, delta)
        total = sum(s.epsilon for s in spends)
        assert total <= self.epsilon * (1 + 1e-9), "a plan must not exceed its target"
        return spends

    def fit(
        self,
        table: pa.Table,
        schema: TableSchema,
        *,
        size: int | None = None,
        rng: np.random.Generator | None = None,
        streams: RandomStreams | None = None,
        progress: ProgressFn | None = None,
    ) -> PrivacyReport:
        """Learn the table. Spends at most the planned (ε, δ); returns what it spent.

        Neighbours differ by one privacy unit (`schema.privacy_unit`, else a
        row): each unit keeps at most k rows before anything is measured, and
        the generators scale their noise by k. `size` is the public number of
        units the plan was made with (δ's default, sampling rates, totals): give
        the DP count (`generators.privacy.units.measure_size`, charged) when the
        count is private; without it the table's own count is used and is
        thereby treated as public.

        Every random number comes from `streams`, one keyed stream per purpose
        (`synth.base.randomness`); the service passes the job's. Without it,
        `rng` keys the streams (reproducible, and NOT secret: whoever knows
        `rng`'s seed replays the DP noise); with neither, the operating system's
        randomness does.
        """
        if streams is None:
            streams = RandomStreams.fresh() if rng is None else RandomStreams.from_rng(rng)
        schema.check_table(table, nulls=False)  # no cell may fail a fit
        if table.num_rows == 0:
            raise InvalidArgument("cannot fit a generator on an empty table")
        if not schema.modelled():
            raise InvalidArgument("the schema marks every column as id or PII: nothing to model")
        _ = schema.max_rows_per_unit  # refuses a contribution bound still "auto"
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise InvalidArgument(f"size must be a positive integer, got {size!r}")
        self.schema = schema
        self.privacy = None  # a refit that fails or is cancelled leaves the model unfitted
        # Before any statistic: at most k rows per unit, chosen at random from a stream of
        # its own (nothing else draws from it).
        bounded = bound_contributions(table, schema, streams.generator("contribution-bounding"))
        self.n_train_rows = size if size is not None else int(rows_per_unit(table, schema).size)
        if self.epsilon is not None:
            # Every refusal the plan makes (a target no noise reaches, δ ≥ 1/n, ...) before a
            # statistic is taken, for library callers who fit without planning too.
            self.plan(schema, self.n_train_rows)
        modelled = bounded.select([c.name for c in schema.modelled()])
        self.privacy = self._fit(modelled, schema, streams, progress or no_progress)
        if self.epsilon is not None and self.privacy.epsilon is not None:
            assert self.privacy.epsilon <= self.epsilon * (1 + 1e-9), "spent more than the target"
        return self.privacy

    def sample(self, n: int, *, seed: int, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Yield `n` synthetic rows in record batches, in the schema's column order and types.

        The same fitted model and seed give the same rows, however they are batched.
        """
        schema = self._require_fitted()
        if n < 0:
            raise InvalidArgument(f"row count must be non-negative, got {n}")
        arrow_schema = schema.arrow_schema()
        # One generator per batch, derived from (seed, batch index): the rows do not
        # depend on how far a consumer reads, and batches can be made in parallel.
        done = 0
        index = 0
        while done < n or (n == 0 and index == 0):
            rows = min(batch_rows, n - done)
            rng = np.random.default_rng([seed, index])
            modelled = self._sample_modelled(rows, rng)
            extra = unmodelled_columns(schema, rows, rng, offset=done)
            cols = {**modelled, **extra}
            yield cast_columns(cols, schema, arrow_schema)
            done += rows
            index += 1
            if n == 0:
                break

    def sample_table(self, n: int, *, seed: int) -> pa.Table:
        schema = self._require_fitted()
        batches = list(self.sample(n, seed=seed))
        return pa.Table.from_batches(batches, schema=schema.arrow_schema())

    def save(self, directory: str | Path) -> None:
        """Write `config.json` and `weights.safetensors`, each atomically."""
        schema = self._require_fitted()
        assert self.privacy is not None
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        config, arrays = self._state()
        with atomic_path(d / WEIGHTS_FILE) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        doc = {
            "kind": self.kind,
            "version": self.version,
            "params": self.params(),
            "schema": schema.to_json_dict(),
            "privacy": self.privacy.to_json_dict(),
            "n_train_rows": self.n_train_rows,
            "state": config,
        }
        write_bytes_atomic(d / CONFIG_FILE, json.dumps(doc, indent=1).encode())

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        d = Path(directory)
        doc = json.loads((d / CONFIG_FILE).read_text())
        if doc.get("kind") != cls.kind:
            raise InvalidArgument(f"{d} holds a {doc.get('kind')!r} model, not {cls.kind!r}")
        arrays = load_file(str(d / WEIGHTS_FILE))
        obj = cls(**{cls._renamed_params.get(k, k): v for k, v in doc["params"].items()})
        obj.schema = TableSchema.from_json_dict(doc["schema"])
        obj.privacy = PrivacyReport.from_json_dict(doc["privacy"])
        obj.n_train_rows = int(doc["n_train_rows"])
        obj._from_state(doc["state"], arrays)
        return obj

    # --- for subclasses ---------------------------------------------------------

    def _check(self, schema: TableSchema, n_rows: int) -> None:
        """Raise what `fit` would raise from the schema, row count and hyper-parameters alone,
        private or not (a device that is not there, ...). DP-only checks go in `_plan`."""
        return None  # nothing beyond `plan`'s own checks, unless a generator adds some

    @abstractmethod
    def _plan(self, schema: TableSchema, n_rows: int, epsilon: float, delta: float) -> list[Spend]:
        """Split (ε, δ) into the ledger charges; public inputs only. Raise what `fit` would
        raise from them (a target no noise reaches, a budget the steps would overspend)."""

    @abstractmethod
    def _fit(
        self, table: pa.Table, schema: TableSchema, streams: RandomStreams, progress: ProgressFn
    ) -> PrivacyReport:
        """Fit on the modelled columns only, each kind of randomness from its own stream.

        DP noise from `streams.child("noise")`, one stream per mechanism (never two
        mechanisms on one stream); everything else from its own purpose.
        """

    @abstractmethod
    def _sample_modelled(
        self, n: int, rng: np.random.Generator
    ) -> dict[str, pa.Array | np.ndarray]:
        """Sample the modelled columns: Arrow arrays or numpy arrays (NaN / None for null)."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able config, named arrays) that `_from_state` restores."""

    @abstractmethod
    def _from_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore from `_state`'s output."""

    def _require_fitted(self) -> TableSchema:
        if self.schema is None or self.privacy is None:
            raise InvalidArgument(f"this {self.kind} generator is not fitted yet; call fit() first")
        return self.schema
