"""DP-SGD noise from ChaCha20 vs Opacus' default generator: DP-CTGAN seconds per DP epoch, in one run.

    .venv/bin/python bench/bench_secure_noise.py                      # adult.csv, 2 epochs each, 2 threads
    .venv/bin/python bench/bench_secure_noise.py --rows 8000 --epochs 1
    .venv/bin/python bench/bench_secure_noise.py --device cuda --threads 16   # on a GPU box

The same DP-CTGAN trainer (batch 500, generator and discriminator 256-256,
embedding 128, σ = 1, ghost clipping) on synth/demo/adult.csv, two ways:

- "secure": `StreamNoiseDPOptimizer`, the code the service runs: the noise
  is float32 normals drawn by numpy from a ChaCha20 stream (randomgen,
  20 rounds), moved to the parameters' device;
- "opacus": Opacus' own `DPOptimizerFastGradientClipping` drawing the noise
  with `torch.normal` from a torch.Generator (Mersenne Twister on the CPU,
  Philox on CUDA), as before.

The two trainers alternate step by step (a DP step is the discriminator's
DP-SGD step plus the generator's step, as in the training loop), each
taking `--epochs` epochs' worth of steps after 5 warm-up steps, so a
change in the machine's load hits both; seconds per DP epoch are the mean
(and the median) step times the steps of an epoch. A second table times
the noise alone: one step's worth of normals for the
discriminator's parameters, numpy ChaCha20 (+ copy to the device) vs
`torch.normal`. The layout is the exact (non-DP) one: only the training
step is timed. Prints Markdown.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opacus.optimizers import DPOptimizerFastGradientClipping  # noqa: E402

from generators.dpctgan.accounting import plan_steps  # noqa: E402
from generators.dpctgan.dp_optimizer import StreamNoiseDPOptimizer, gaussian_like  # noqa: E402
from generators.dpctgan.preprocess import ExactMeasurer, build_layout  # noqa: E402
from generators.dpctgan.training import TrainConfig, Trainer  # noqa: E402
from generators.dpctgan.transformer import encode  # noqa: E402
from synth.base.inference import infer_schema  # noqa: E402
from synth.base.randomness import RandomStreams  # noqa: E402
from synth.base.tableio import read_table  # noqa: E402

ADULT = REPO / "synth" / "demo" / "adult.csv"
SIGMA = 1.0


def _trainer(layout: object, cfg: TrainConfig, device: torch.device, variant: str) -> Trainer:
    trainer = Trainer(layout, cfg, device, RandomStreams.fresh())  # type: ignore[arg-type]
    if variant == "opacus":  # swap in Opacus' own noise, everything else the same
        secure = trainer.optD
        assert isinstance(secure, StreamNoiseDPOptimizer)
        gen = torch.Generator(device=device).manual_seed(0)
        trainer.optD = DPOptimizerFastGradientClipping(
            secure.original_optimizer, noise_multiplier=SIGMA, max_grad_norm=cfg.max_grad_norm,
            expected_batch_size=2 * cfg.batch_size, loss_reduction="mean", generator=gen,
        )
    return trainer


def _step_seconds(trainer: Trainer, x: torch.Tensor, c: torch.Tensor, device: torch.device) -> float:
    """One DP step of the training loop: the discriminator's DP-SGD step, then the generator's."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trainer.dp_discriminator_step(x, c)
    trainer.generator_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _noise_only(trainer: Trainer, device: torch.device, repeats: int) -> tuple[float, float, int]:
    params = [p for p in trainer.D.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    stream = RandomStreams.fresh().child("noise").generator("dp-sgd")
    gen = torch.Generator(device=device).manual_seed(0)
    secure, plain = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p in params:
            gaussian_like(p, SIGMA, stream)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        for p in params:
            torch.normal(0.0, SIGMA, size=p.shape, device=device, generator=gen, dtype=p.dtype)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        secure.append(t1 - t0)
        plain.append(t2 - t1)
    return statistics.median(secure), statistics.median(plain), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=0, help="first N rows of adult.csv (0: all 32,561)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs' worth of timed steps per variant")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    table = read_table(ADULT)
    if a.rows:
        table = table.slice(0, a.rows)
    schema = infer_schema(table)
    layout = build_layout(table, schema, ExactMeasurer())
    data, codes = encode(table, schema, layout)
    plan = plan_steps(table.num_rows, 500, 1)
    cfg = TrainConfig(plan=plan, batch_size=500, embedding_dim=128, generator_dim=(256, 256),
                      discriminator_dim=(256, 256), lr=2e-4, max_grad_norm=1.0,
                      noise_multiplier=SIGMA, delta=1e-6, accountant="rdp")
    trainers = {v: _trainer(layout, cfg, device, v) for v in ("secure", "opacus")}
    x = torch.as_tensor(data, device=device)
    c = torch.as_tensor(codes, dtype=torch.long, device=device)
    for t in trainers.values():
        t.G.train()
        t.D.train()
    times: dict[str, list[float]] = {v: [] for v in trainers}
    warmup, steps = 5, a.epochs * plan.steps_per_epoch
    for i in range(warmup + steps):
        # Step by step, the two alternate (and swap who goes first): a change in the
        # machine's load hits both.
        order = list(trainers) if i % 2 == 0 else list(reversed(trainers))
        for v in order:
            s = _step_seconds(trainers[v], x, c, device)
            if i >= warmup:
                times[v].append(s)
    noise_sec, noise_opa, n_params = _noise_only(trainers["secure"], device, 50)
    per_epoch = {v: statistics.fmean(ts) * plan.steps_per_epoch for v, ts in times.items()}
    median_epoch = {v: statistics.median(ts) * plan.steps_per_epoch for v, ts in times.items()}
    print(f"\n{platform.machine()}, {a.threads} torch threads, device {a.device}, torch {torch.__version__}, "
          f"{table.num_rows:,} rows, {plan.steps_per_epoch} DP steps per epoch, {steps} steps each, "
          f"{n_params:,} discriminator parameters\n")
    print("| noise | s per DP epoch (mean step × steps) | (median step × steps) | vs opacus (mean, median) |")
    print("| --- | ---: | ---: | ---: |")
    for v, name in (("secure", "secure (ChaCha20, numpy)"), ("opacus", "opacus (torch.Generator)")):
        print(f"| {name} | {per_epoch[v]:.2f} | {median_epoch[v]:.2f} | "
              f"{per_epoch[v] / per_epoch['opacus']:.3f}×, "
              f"{median_epoch[v] / median_epoch['opacus']:.3f}× |")
    print("\n| one step's noise | ms (median of 50) | vs torch.normal |")
    print("| --- | ---: | ---: |")
    print(f"| ChaCha20 float32 normals (+ copy to {a.device}) | {noise_sec * 1e3:.2f} | "
          f"{noise_sec / noise_opa:.2f}× |")
    print(f"| torch.normal on {a.device} | {noise_opa * 1e3:.2f} | 1.00× |")
    print(f"\nper epoch the noise alone: {noise_sec * plan.steps_per_epoch:.2f} s secure, "
          f"{noise_opa * plan.steps_per_epoch:.2f} s torch")


if __name__ == "__main__":
    main()
