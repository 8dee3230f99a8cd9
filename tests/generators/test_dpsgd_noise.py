"""DP-SGD noise from a secure stream: Opacus' ghost-clipping optimizer, its noise drawn by ChaCha20."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import torch
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from torch import nn
from torch.nn import functional as F

from generators.dpctgan.accounting import StepPlan
from generators.dpctgan.dp_optimizer import StreamNoiseDPOptimizer
from generators.dpctgan.preprocess import ExactMeasurer, build_layout
from generators.dpctgan.training import TrainConfig, Trainer
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema

SIGMA, CLIP, BATCH = 1.3, 0.7, 16
SECRET = bytes(32)


def _stream(job: str) -> np.random.Generator:
    return RandomStreams.for_job(SECRET, job).child("noise").generator("dp-sgd")


def _noise_of_one_step(stream: np.random.Generator) -> list[torch.Tensor]:
    """Run one ghost-clipped step up to the noise; return what was added to each parameter."""
    model = nn.Linear(300, 200)
    with torch.no_grad():  # fixed weights and data: only the noise may differ between runs
        g = torch.Generator().manual_seed(0)
        model.weight.copy_(torch.randn(model.weight.shape, generator=g) * 0.05)
        model.bias.zero_()
    x = torch.randn((BATCH, 300), generator=torch.Generator().manual_seed(1))
    y = (torch.arange(BATCH) % 2).float()
    gsm = GradSampleModuleFastGradientClipping(model, max_grad_norm=CLIP, use_ghost_clipping=True,
                                               loss_reduction="mean")
    opt = StreamNoiseDPOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), noise=stream,
                                 noise_multiplier=SIGMA, max_grad_norm=CLIP,
                                 expected_batch_size=BATCH, loss_reduction="mean")
    per_sample = F.binary_cross_entropy_with_logits(gsm(x)[:, 0], y, reduction="none")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        DPTensorFastGradientClipping(gsm, opt, per_sample, "mean").backward()  # type: ignore[arg-type]
    assert opt.pre_step()  # accumulate, add the noise, scale by the expected batch size
    # p.grad = (clipped sum + noise) / expected batch size; the clipped sum stays in summed_grad.
    return [p.grad * BATCH - p.summed_grad for p in opt.params]  # type: ignore[operator]


def test_the_noise_is_the_streams_draws_times_sigma_c() -> None:
    noise = _noise_of_one_step(_stream("j1"))
    replay = _stream("j1")
    for n in noise:
        expected = replay.standard_normal(tuple(n.shape), dtype=np.float32) * np.float32(SIGMA * CLIP)
        torch.testing.assert_close(n, torch.from_numpy(expected), rtol=1e-4, atol=1e-4)


def test_the_same_stream_gives_the_same_noise_and_another_does_not() -> None:
    a, b, c = (_noise_of_one_step(_stream(job)) for job in ("j1", "j1", "j2"))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert not torch.allclose(a[0], c[0])
    # Independent draws, not rescaled ones.
    assert abs(float(np.corrcoef(a[0].flatten().numpy(), c[0].flatten().numpy())[0, 1])) < 0.05
    # The global torch generator plays no part.
    torch.manual_seed(99)
    d = _noise_of_one_step(_stream("j1"))
    torch.testing.assert_close(a[0], d[0], rtol=0, atol=0)


def test_the_noise_has_standard_deviation_sigma_times_c() -> None:
    (weight_noise, _) = _noise_of_one_step(_stream("j3"))
    assert weight_noise.numel() == 60_000
    std = float(weight_noise.std())
    assert abs(std - SIGMA * CLIP) < 0.02 * SIGMA * CLIP  # sd of the estimate ≈ 0.3 %
    assert abs(float(weight_noise.mean())) < 0.02 * SIGMA * CLIP


def test_the_dpctgan_trainer_noises_from_its_noise_stream(adult: pa.Table,
                                                          adult_schema: TableSchema) -> None:
    table = adult.slice(0, 500)
    layout = build_layout(table, adult_schema, ExactMeasurer())
    cfg = TrainConfig(plan=StepPlan(64 / table.num_rows, 1, 1), batch_size=64, embedding_dim=8,
                      generator_dim=(16,), discriminator_dim=(16,), lr=1e-3, max_grad_norm=1.0,
                      noise_multiplier=1.0, delta=1e-6, accountant="rdp")
    trainer = Trainer(layout, cfg, torch.device("cpu"), RandomStreams.for_job(SECRET, "j1"))
    assert isinstance(trainer.optD, StreamNoiseDPOptimizer)
    assert trainer.optD.noise_stream is trainer.rand.noise
    assert trainer.optD.generator is None and not trainer.optD.secure_mode
    expected = _stream("j1").standard_normal(8)
    assert np.array_equal(trainer.rand.noise.standard_normal(8), expected)
