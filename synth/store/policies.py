"""Release policy versions: append-only rows, one per change of a source's policy.

A version is never updated or deleted once written, so a verdict that names
(source, version) can always be checked again against the same thresholds.
Two changes at once cannot both become version N: the primary key refuses
the second, which tries again with the next number (ABORTED after a few tries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from synth.base.errors import NotFound, SynthError
from synth.store.metadata import MetadataStore
from synth.store.sqltables import release_policies

#: Tries before a change that keeps losing the race for its version number gives up.
_ATTEMPTS = 5


class Aborted(SynthError):
    code = "ABORTED"
    reason = "CONCURRENT_CHANGE"


@dataclass(frozen=True)
class PolicyVersion:
    source_id: str
    version: int
    policy: dict[str, Any]  # the policy's JSON (synth.core.policy.ReleasePolicy.to_json_dict)
    author: str
    create_time: float


class PolicyRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def append(
        self,
        source_id: str,
        policy: dict[str, Any],
        author: str,
        *,
        also: Callable[[Connection, int], object] | None = None,
    ) -> PolicyVersion:
        """Store `policy` as the source's next version (1 for the first); `also(conn, version)`
        runs in the same transaction (the audit entry: both are written or neither)."""
        for attempt in range(_ATTEMPTS):
            now = time.time()
            try:
                with self.meta.transaction() as conn:
                    last = conn.execute(
                        select(func.max(release_policies.c.version)).where(
                            release_policies.c.source_id == source_id
                        )
                    ).scalar()
                    version = int(last or 0) + 1
                    conn.execute(
                        release_policies.insert().values(
                            source_id=source_id,
                            version=version,
                            policy_json=json.dumps(policy, sort_keys=True),
                            author=author,
                            create_time=now,
                        )
                    )
                    if also is not None:
                        also(conn, version)
                return PolicyVersion(source_id, version, policy, author, now)
            except IntegrityError as exc:  # another change took this version number first
                if attempt + 1 == _ATTEMPTS:
                    raise Aborted(
                        f"the release policy of sources/{source_id} was changed at the same "
                        "time; read it again and retry"
                    ) from exc
        raise AssertionError("unreachable")

    def get(self, source_id: str, version: int | None = None) -> PolicyVersion:
        """The given version, or the latest; NotFound when there is none."""
        q = select(release_policies).where(release_policies.c.source_id == source_id)
        if version is None:
            q = q.order_by(release_policies.c.version.desc()).limit(1)
        else:
            q = q.where(release_policies.c.version == version)
        with self.meta.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            what = (
                "no release policy" if version is None else f"no release policy version {version}"
            )
            raise NotFound(f"sources/{source_id} has {what}")
        m = row._mapping
        return PolicyVersion(
            m["source_id"],
            m["version"],
            json.loads(m["policy_json"]),
            m["author"],
            m["create_time"],
        )
