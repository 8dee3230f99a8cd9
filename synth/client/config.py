"""How the SDK talks to the server: deadlines, chunk size, retries, metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from synth.base.errors import InvalidArgument
from synth.client.transfer import CHUNK_SIZE

#: What may go in an HTTP/2 header value; a token is never echoed when refused.
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]{1,4096}$")

_READ_METHODS = {
    "synth.v1.SourceService": ("GetSource", "ListSources", "GetBudget"),
    "synth.v1.ModelService": ("GetModel", "ListModels"),
    "synth.v1.DatasetService": ("GetDataset", "ListDatasets"),
    "synth.v1.JobService": ("GetJob", "ListJobs"),
}


@dataclass(frozen=True)
class ClientConfig:
    """How a `Client` talks to the server."""

    #: Deadline in seconds of quick calls (get, list, submitting a job, cancel).
    timeout: float | None = 30.0
    #: Deadline in seconds of table transfers (register_source, download).
    transfer_timeout: float | None = 6 * 3600.0
    #: Bytes per uploaded chunk (the wire contract says 1 MiB).
    chunk_size: int = CHUNK_SIZE
    #: Retry reads (get, list) on UNAVAILABLE with backoff; writes are never retried.
    retry_reads: bool = True
    #: Extra gRPC metadata sent with every call, e.g. (("authorization", "Bearer ..."),).
    metadata: tuple[tuple[str, str], ...] = ()
    #: Extra gRPC channel options.
    channel_options: tuple[tuple[str, Any], ...] = field(default=())

    def options(self) -> list[tuple[str, Any]]:
        opts: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ]
        if self.retry_reads:
            opts += [("grpc.enable_retries", 1), ("grpc.service_config", _retry_config())]
        return opts + list(self.channel_options)


def with_token(config: ClientConfig, token: str | None) -> ClientConfig:
    """`config` with `authorization: Bearer <token>` added to every call's metadata."""
    if token is None:
        return config
    if not isinstance(token, str) or not _TOKEN_CHARS.match(token):
        raise InvalidArgument(
            "the token must be the printable text `synth token create` showed "
            "(no spaces or line breaks); get one from your server's admin"
        )
    kept = tuple((k, v) for k, v in config.metadata if k.lower() != "authorization")
    return replace(config, metadata=(*kept, ("authorization", f"Bearer {token}")))


def _retry_config() -> str:
    names = [{"service": s, "method": m} for s, methods in _READ_METHODS.items() for m in methods]
    policy = {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})
