"""Schema verbs of the SDK: read a source's schema, edit it, approve it for training."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from synth.base.schema import TableSchema
from synth.client import convert
from synth.client.resources import Source
from synth.schema_proto import schema_to_proto
from synth.v1 import sources_pb2


class SchemaVerbs:
    """Mixed into `synth.Client`; uses its stubs and call helper."""

    _stubs: Any
    _call: Callable[..., Any]
    get_source: Callable[..., Source]

    def schema(self, source: Source | str) -> TableSchema:
        """The source's current schema; export with `.to_json()`, edit, `update_schema` it back."""
        return self.get_source(source).schema

    def update_schema(
        self,
        source: Source | str,
        schema: TableSchema | str | os.PathLike[str],
        *,
        approve: bool = False,
    ) -> Source:
        """Replace the source's schema (a `TableSchema`, or a path to its JSON).

        The edit is the next schema version, pending until approved; with
        `approve=True` it is approved in the same call (the schema as sent).
        """
        request = sources_pb2.UpdateSchemaRequest(
            name=convert.resource_name(source, "sources"),
            schema=schema_to_proto(convert.coerce_schema(schema)),
            approve=approve,
        )
        return convert.source_from_proto(self._call(self._stubs.sources.UpdateSchema, request))

    def approve_schema(self, source: Source | str, *, schema_version: int | None = None) -> Source:
        """Approve the source's schema, so it can train; returns the source, approved.

        Approves the version you reviewed: `schema_version`, else the version of
        the `Source` you pass (its `schema` is what you looked at), else, for a
        name, the current one. A version edited since is refused
        (`synth.SchemaVersionMismatch`).
        """
        if schema_version is None:
            seen = source if isinstance(source, Source) else self.get_source(source)
            schema_version = seen.schema_version
        request = sources_pb2.ApproveSchemaRequest(
            name=convert.resource_name(source, "sources"), schema_version=schema_version
        )
        return convert.source_from_proto(self._call(self._stubs.sources.ApproveSchema, request))
