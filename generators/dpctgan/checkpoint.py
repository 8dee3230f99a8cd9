"""Training checkpoints: JSON + safetensors, written so a crash never leaves a torn one.

Each checkpoint writes its tensors to a new file named by epoch, then
atomically replaces `checkpoint.json`, which names that file: the JSON is
the commit point, so a reader sees either the old checkpoint or the new one.
Nothing here is pickled; the accountant's history is JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from synth.base.atomic import atomic_path, write_bytes_atomic
from synth.base.errors import InvalidArgument

INDEX = "checkpoint.json"


def save_checkpoint(directory: str | Path, epoch: int, doc: dict[str, Any],
                    tensors: dict[str, torch.Tensor]) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    name = f"state-epoch{epoch:06d}.safetensors"
    with atomic_path(d / name) as tmp:
        save_file(tensors, str(tmp))
    old = d / INDEX
    previous = json.loads(old.read_text()).get("tensors") if old.exists() else None
    write_bytes_atomic(old, json.dumps({**doc, "tensors": name}, indent=1).encode())
    if previous and previous != name:
        (d / previous).unlink(missing_ok=True)
    return d / name


def load_checkpoint(directory: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    d = Path(directory)
    if not (d / INDEX).is_file():
        raise InvalidArgument(f"no checkpoint in {d}")
    doc = json.loads((d / INDEX).read_text())
    return doc, load_file(str(d / doc["tensors"]))
