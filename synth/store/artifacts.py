"""Artifacts in a local folder: source parts, model folders, dataset files.

Files are written under a temporary name and renamed into place; model
folders are built in a staging folder and renamed whole. Paths stored in the
metadata are relative to the root, so a data folder can be moved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        for sub in ("sources", "models", "datasets", "evaluations", "checkpoints", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path(self, relative: str) -> Path:
        p = (self.root / relative).resolve()
        if self.root.resolve() not in p.parents and p != self.root.resolve():
            raise ValueError(f"artifact path {relative!r} escapes the store")
        return p

    def source_dir(self, source_id: str) -> str:
        return f"sources/{source_id}"

    def model_dir(self, model_id: str) -> str:
        return f"models/{model_id}"

    def dataset_file(self, dataset_id: str) -> str:
        return f"datasets/{dataset_id}.parquet"

    def temp_file(self, suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", suffix=suffix)
        os.close(fd)
        return Path(name)

    @contextmanager
    def staged_dir(self, relative: str) -> Iterator[Path]:
        """Yield an empty staging folder; on success it becomes `relative`, whole."""
        target = self.path(relative)
        staging = self.root / "tmp" / f"stage-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            yield staging
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise FileExistsError(f"artifact {relative} already exists")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def remove(self, relative: str) -> None:
        p = self.path(relative)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)

    def clean_tmp(self) -> None:
        """Remove leftovers of writes a crash interrupted (never visible as artifacts)."""
        tmp = self.root / "tmp"
        for p in tmp.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        for partial in self.root.rglob(".*.partial"):  # synth.base.atomic.atomic_path's temp names
            partial.unlink(missing_ok=True)
