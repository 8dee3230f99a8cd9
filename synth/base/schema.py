"""The table schema: the vocabulary shared by the service, generators and evaluators.

A schema says, per column, what kind of values it holds and what the owner
declares *public* about it (bounds, category sets). Inference looks only at
types and shapes, never copies a value: bounds and categories in a schema are
always the owner's declaration, so a generator may use them without spending
privacy budget. Everything else a generator needs from the data is measured
with a DP mechanism and charged to the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import pyarrow as pa

from synth.base.errors import FieldViolation, InvalidSchema

SCHEMA_FORMAT_VERSION = 1


class ColumnKind(StrEnum):
    """How a column is modelled."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    ID = "id"  # unique keys: never modelled, regenerated as fresh unique values
    PII = "pii"  # direct identifiers: never modelled, replaced by fake values


class Tag(StrEnum):
    """Sensitivity tags the owner sets; the evaluators use them to pick attack columns."""

    PII = "pii"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"


#: Arrow types a source column may have, by the name `str(pa_type)` gives.
SUPPORTED_TYPE_NAMES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float",
    "double",
    "bool",
    "string",
    "large_string",
    "date32[day]",
    "timestamp[s]",
    "timestamp[ms]",
    "timestamp[us]",
    "timestamp[ns]",
]


def is_supported_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)
    if pa.types.is_timestamp(t):
        return True
    return str(t) in SUPPORTED_TYPE_NAMES


def normalize_type(t: pa.DataType) -> pa.DataType:
    """Dictionary strings are stored as plain strings; everything else as is."""
    if pa.types.is_dictionary(t):
        return pa.string()
    if pa.types.is_large_string(t):
        return pa.string()
    return t


def type_to_name(t: pa.DataType) -> str:
    return str(normalize_type(t))


def type_from_name(name: str) -> pa.DataType:
    if name.startswith("timestamp[") and "tz=" in name:
        unit, tz = name[len("timestamp[") : -1].split(", tz=")
        return pa.timestamp(unit, tz=tz)
    if name == "float":
        return pa.float32()
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError) as exc:
        raise InvalidSchema(f"unknown Arrow type {name!r}") from exc


@dataclass(frozen=True)
class ColumnSchema:
    """One column. `lower`/`upper` and `categories` are public declarations.

    For datetime columns the bounds are seconds since the Unix epoch (the JSON
    form writes them as ISO-8601 strings).
    """

    name: str
    kind: ColumnKind
    arrow_type: str
    nullable: bool = True
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None
    tags: tuple[Tag, ...] = ()

    @property
    def dtype(self) -> pa.DataType:
        return type_from_name(self.arrow_type)

    @property
    def is_integer(self) -> bool:
        return pa.types.is_integer(self.dtype)

    @property
    def has_public_bounds(self) -> bool:
        return self.lower is not None and self.upper is not None

    @property
    def modelled(self) -> bool:
        """Whether a generator learns this column (ids and PII are regenerated instead)."""
        return self.kind not in (ColumnKind.ID, ColumnKind.PII)

    @property
    def needs_dp_measurement(self) -> Literal["bounds", "categories"] | None:
        """What a generator must measure with DP before it can model this column, if anything.

        "bounds" for a numerical or datetime column without public bounds,
        "categories" for a categorical column without a declared category set,
        None when the schema declares what a generator needs (booleans, declared
        columns) or the column is not modelled (ids, PII). Every generator asks
        this one rule; truthy exactly when a measurement is needed.
        """
        if self.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME) and not self.has_public_bounds:
            return "bounds"
        if self.kind is ColumnKind.CATEGORICAL and self.categories is None:
            return "categories"
        return None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "arrow_type": self.arrow_type,
            "nullable": self.nullable,
        }
        if self.lower is not None:
            out["lower"] = _bound_to_json(self.lower, self.kind)
        if self.upper is not None:
            out["upper"] = _bound_to_json(self.upper, self.kind)
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.tags:
            out["tags"] = [t.value for t in self.tags]
        return out

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> ColumnSchema:
        unknown = set(d) - {
            "name",
            "kind",
            "arrow_type",
            "nullable",
            "lower",
            "upper",
            "categories",
            "tags",
        }
        name = str(d.get("name", ""))
        if unknown:
            raise InvalidSchema(f"column {name!r}: unknown keys {sorted(unknown)}")
        try:
            kind = ColumnKind(d["kind"])
        except (KeyError, ValueError) as exc:
            kinds = ", ".join(k.value for k in ColumnKind)
            raise InvalidSchema(
                f"column {name!r}: kind must be one of {kinds}, got {d.get('kind')!r}",
                violations=[FieldViolation(f"columns.{name}.kind", "unknown kind")],
            ) from exc
        try:
            tags = tuple(Tag(t) for t in d.get("tags", ()))
        except ValueError as exc:
            raise InvalidSchema(f"column {name!r}: {exc}") from exc
        cats = d.get("categories")
        col = cls(
            name=name,
            kind=kind,
            arrow_type=str(d.get("arrow_type", "")),
            nullable=bool(d.get("nullable", True)),
            lower=_bound_from_json(d.get("lower"), kind, name),
            upper=_bound_from_json(d.get("upper"), kind, name),
            categories=None if cats is None else tuple(str(c) for c in cats),
            tags=tags,
        )
        col.check()
        return col

    def check(self) -> None:
        """Raise `InvalidSchema` if the column contradicts itself."""
        where = f"column {self.name!r}"
        if not self.name:
            raise InvalidSchema("every column needs a non-empty name")
        type_from_name(self.arrow_type)
        if (self.lower is None) != (self.upper is None):
            raise InvalidSchema(f"{where}: declare both lower and upper bounds, or neither")
        if self.lower is not None and self.upper is not None:
            if self.kind not in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
                raise InvalidSchema(f"{where}: bounds only apply to numerical and datetime columns")
            if not self.lower < self.upper:
                raise InvalidSchema(
                    f"{where}: lower bound {self.lower} must be below upper {self.upper}"
                )
        if self.categories is not None:
            if self.kind not in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
                raise InvalidSchema(f"{where}: categories only apply to categorical columns")
            if len(set(self.categories)) != len(self.categories):
                raise InvalidSchema(f"{where}: categories repeat a value")
            if not self.categories:
                raise InvalidSchema(f"{where}: an empty category list declares nothing; omit it")


def _bound_to_json(v: float, kind: ColumnKind) -> float | int | str:
    if kind is ColumnKind.DATETIME:
        return datetime.fromtimestamp(v, tz=UTC).isoformat()
    return int(v) if float(v).is_integer() else v


def _bound_from_json(v: Any, kind: ColumnKind, name: str) -> float | None:
    if v is None:
        return None
    if kind is ColumnKind.DATETIME and isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError as exc:
            raise InvalidSchema(
                f"column {name!r}: bound {v!r} is not an ISO-8601 date-time"
            ) from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidSchema(f"column {name!r}: bound {v!r} must be a number")
    return float(v)


#: The largest contribution bound a schema may declare (rows kept per privacy unit).
MAX_ROWS_PER_UNIT = 1000
AUTO = "auto"


@dataclass(frozen=True)
class PrivacyUnit:
    """Whose presence the ledger's ε protects: the people behind the rows.

    `column` holds the unit's identifier (a person, a customer); rows with the
    same value are one unit, a null value is a unit of its own row. Before any
    statistic is taken, each unit keeps at most `max_rows` of its rows (chosen
    at random, the rest dropped), so one unit moves every count by at most
    `max_rows` and the generators scale their noise with it. `max_rows="auto"`
    lets the server choose it with a charged DP measurement.
    """

    column: str
    max_rows: int | Literal["auto"] = 1

    def check(self, schema: TableSchema) -> None:
        if self.column not in schema.names:
            raise InvalidSchema(
                f"privacy_unit.column {self.column!r} is not a column of the table",
                violations=[FieldViolation("privacy_unit.column", "not a column")],
            )
        k = self.max_rows
        if k != AUTO and (
            isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_ROWS_PER_UNIT
        ):
            raise InvalidSchema(
                f"privacy_unit.max_rows must be an integer in [1, {MAX_ROWS_PER_UNIT}] or "
                f'"auto", got {str(k)[:40]!r}',
                violations=[FieldViolation("privacy_unit.max_rows", "out of range")],
            )

    def to_json_dict(self) -> dict[str, Any]:
        return {"column": self.column, "max_rows": self.max_rows}

    @classmethod
    def from_json_dict(cls, d: Any) -> PrivacyUnit:
        if not isinstance(d, Mapping) or not isinstance(d.get("column"), str):
            raise InvalidSchema('privacy_unit is an object {"column": name, "max_rows": k}')
        return cls(column=d["column"], max_rows=d.get("max_rows", 1))


@dataclass(frozen=True)
class TableSchema:
    """All columns of a table, in order, and whose privacy the ledger counts.

    Neighbouring tables differ by one privacy unit, added or removed: one row
    unless `privacy_unit` names a column. The row count is *not* public: the
    server uses a DP count of units (see docs/design.md, "Privacy model").
    """

    columns: tuple[ColumnSchema, ...]
    version: int = SCHEMA_FORMAT_VERSION
    meta: Mapping[str, str] = field(default_factory=dict)
    privacy_unit: PrivacyUnit | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidSchema(f"duplicate column names: {', '.join(dup)}")
        if self.privacy_unit is not None:
            self.privacy_unit.check(self)

    @property
    def max_rows_per_unit(self) -> int:
        """The contribution bound k the generators scale their noise by (1: a row is a unit).

        Raises `InvalidSchema` while it is still "auto": the server resolves it first.
        """
        if self.privacy_unit is None:
            return 1
        k = self.privacy_unit.max_rows
        if k == AUTO:
            raise InvalidSchema(
                'privacy_unit.max_rows is "auto": measure it first '
                "(generators.privacy.units.measure_size) and fit with the result"
            )
        return int(k)

    def with_max_rows(self, k: int) -> TableSchema:
        """This schema with its unit's contribution bound resolved to `k`."""
        assert self.privacy_unit is not None
        return replace(self, privacy_unit=replace(self.privacy_unit, max_rows=k))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSchema:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def modelled(self) -> list[ColumnSchema]:
        return [c for c in self.columns if c.modelled]

    def with_column(self, col: ColumnSchema) -> TableSchema:
        return replace(self, columns=tuple(col if c.name == col.name else c for c in self.columns))

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.dtype, nullable=c.nullable) for c in self.columns])

    def to_json_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "columns": [c.to_json_dict() for c in self.columns],
        }
        if self.privacy_unit is not None:
            d["privacy_unit"] = self.privacy_unit.to_json_dict()
        return d

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_json_dict(), indent=indent)

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> TableSchema:
        if not isinstance(d, Mapping) or not isinstance(d.get("columns"), list):
            raise InvalidSchema('a schema is a JSON object with a "columns" list')
        if int(d.get("version", SCHEMA_FORMAT_VERSION)) != SCHEMA_FORMAT_VERSION:
            raise InvalidSchema(f"schema version {d.get('version')} is not supported")
        # "row_count_public" (written before revision 0005) is ignored: the count never is.
        cols = tuple(ColumnSchema.from_json_dict(c) for c in d["columns"])
        unit = d.get("privacy_unit")
        return cls(
            columns=cols,
            privacy_unit=None if unit is None else PrivacyUnit.from_json_dict(unit),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TableSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSchema(f"schema is not valid JSON: {exc}") from exc
        return cls.from_json_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_table(self, table: pa.Table, *, nulls: bool = True) -> None:
        """Raise `InvalidSchema` when `table` does not have exactly these columns and types.

        With `nulls=False` only names and types are checked, never a cell: a
        fit must not fail on a null in a column the owner later declared not
        nullable (its state would tell whoever reads the job that one exists);
        generators take such a null like any other cell that does not fit.
        """
        if table.column_names != self.names:
            raise InvalidSchema(
                f"schema columns {self.names} do not match the table's {table.column_names}"
            )
        violations = []
        for col in self.columns:
            actual = type_to_name(table.schema.field(col.name).type)
            if actual != col.arrow_type:
                violations.append(
                    FieldViolation(
                        f"columns.{col.name}.arrow_type",
                        f"table has {actual}, schema says {col.arrow_type}",
                    )
                )
            if nulls and not col.nullable and table.column(col.name).null_count:
                violations.append(
                    FieldViolation(
                        f"columns.{col.name}.nullable",
                        "column has nulls but is declared not nullable",
                    )
                )
        if violations:
            raise InvalidSchema(
                "the schema does not fit the table: "
                + "; ".join(f"{v.field}: {v.description}" for v in violations),
                violations=violations,
            )


def columns_of_kind(schema: TableSchema, kinds: Iterable[ColumnKind]) -> list[str]:
    ks = set(kinds)
    return [c.name for c in schema.columns if c.kind in ks]
