"""DP-CTGAN's seconds per DP epoch as the table widens: adult at 15, 30, 60 and 120 columns.

    .venv/bin/python bench/bench_dpctgan_width.py --device cuda    # on a GPU machine (~1 min on an H200)
    .venv/bin/python bench/bench_dpctgan_width.py --device cpu --widths 15 30

The wider tables are adult beside row-shuffled copies of its own columns
(`bench_auto.widened`), bounds declared public; ε = 3, batch 500, nets
256-256, embedding 128 (bench_dpctgan's set-up). The median of epochs 2..E
is reported. It backs `generator="auto"`'s GPU time estimate
(`DPCTGAN_GPU_SECONDS_PER_STEP`): on a GPU a DP step is bound by kernel
launches, so its time should not follow the width.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_auto import declared_public, widened  # noqa: E402
from generators.dpctgan import DPCTGAN  # noqa: E402
from synth.base.progress import Progress  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

DATA = Path(os.environ.get("SYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))


def seconds_per_epoch(device: str, width: int, epochs: int) -> tuple[int, float]:
    """(encoded width, median seconds per epoch after the first) of one ε = 3 fit."""
    adult = read_table(DATA / "adult.csv")
    table = adult if width == adult.num_columns else widened(adult, width)
    stamps: list[float] = []

    def progress(p: Progress) -> None:
        if "epoch" in p.metrics:
            stamps.append(time.perf_counter())

    gen = DPCTGAN(epsilon=3.0, epochs=epochs, device=device, batch_size=500,  # type: ignore[arg-type]
                  generator_dim=(256, 256), discriminator_dim=(256, 256), embedding_dim=128)
    gen.fit(table, declared_public(table), rng=np.random.default_rng(0), progress=progress)
    assert gen.layout is not None
    return gen.layout.width, float(np.median(np.diff(stamps)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--widths", type=int, nargs="+", default=[15, 30, 60, 120])
    ap.add_argument("--epochs", type=int, default=4)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    gpu = f" · {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    print(f"{platform.machine()} · {os.cpu_count()} CPUs{gpu} · torch {torch.__version__} · device {a.device}\n")
    print("| columns | encoded width | s per DP epoch (65 steps) |")
    print("| ---: | ---: | ---: |")
    for width in a.widths:
        encoded, secs = seconds_per_epoch(a.device, width, a.epochs)
        print(f"| {width} | {encoded:,} | {secs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
