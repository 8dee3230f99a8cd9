"""DP-CTGAN training: no mixing over real rows, per-sample clipping, resume, seeds, Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from safetensors.numpy import load_file
from torch import nn
from torch.nn import functional as F

from generators import load_generator
from generators.dpctgan import DPCTGAN
from generators.dpctgan.accounting import StepPlan
from generators.dpctgan.networks import Discriminator, SeededDropout, SpanIndex, cond_loss
from generators.dpctgan.preprocess import ExactMeasurer, build_layout
from generators.dpctgan.training import TrainConfig, Trainer
from generators.dpctgan.transformer import encode
from synth.base.atomic import write_parquet_atomic
from synth.base.errors import Cancelled, PrivacyError
from synth.base.progress import Progress
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.tableio import read_metadata

SMALL = {"batch_size": 250, "generator_dim": (32, 32), "discriminator_dim": (32, 32),
         "embedding_dim": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def adult_slice(adult: pa.Table) -> pa.Table:
    return adult.slice(0, 1500)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """On a shared 2-core machine two OpenMP threads per process oversubscribe badly."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trainer(table: pa.Table, schema: TableSchema, *, sigma: float | None, clip: float = 1.0,
             seed: int = 0) -> tuple[Trainer, np.ndarray, np.ndarray]:
    layout = build_layout(table, schema, ExactMeasurer())
    data, codes = encode(table, schema, layout)
    cfg = TrainConfig(plan=StepPlan(64 / table.num_rows, 2, 1), batch_size=64, embedding_dim=8,
                      generator_dim=(16,), discriminator_dim=(24, 24), lr=1e-3, max_grad_norm=clip,
                      noise_multiplier=sigma, delta=1e-6 if sigma is not None else None, accountant="rdp")
    streams = RandomStreams.from_rng(np.random.default_rng(seed))
    return Trainer(layout, cfg, torch.device("cpu"), streams, codes), data, codes


def test_no_layer_of_the_discriminator_mixes_examples(adult_slice: pa.Table, adult_schema: TableSchema) -> None:
    trainer, _, _ = _trainer(adult_slice, adult_schema, sigma=1.0)
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LocalResponseNorm)
    assert not [m for m in trainer.D.modules() if isinstance(m, norms)]
    # functional check: each row's score is the same alone as within a batch (eval: no dropout)
    trainer.D.eval()
    x = torch.randn(50, trainer.layout.width + trainer.layout.cond_width)
    with torch.no_grad():
        together = trainer.D(x)
        alone = torch.cat([trainer.D(x[i : i + 1]) for i in range(50)])
    torch.testing.assert_close(together, alone)


def test_per_sample_gradients_are_clipped_to_the_bound(adult_slice: pa.Table, adult_schema: TableSchema) -> None:
    clip = 0.05  # small, so that most examples are clipped
    trainer, data, _ = _trainer(adult_slice, adult_schema, sigma=0.0, clip=clip)
    for m in trainer.D.modules():  # dropout off but hooks on: the reference needs determinism
        if isinstance(m, SeededDropout):
            m.p = 0.0
    x = torch.as_tensor(data[:40])
    x = torch.cat([x, torch.zeros(40, trainer.layout.cond_width)], dim=1)
    y = (torch.arange(40) % 2).float()
    # the reference: a hook-free copy, one backward per example (micro-batches of one)
    ref = Discriminator(x.shape[1], (24, 24), torch.Generator(), dropout=0.0)
    ref.load_state_dict(trainer.D.state_dict())
    grads: dict[str, list[torch.Tensor]] = {k: [] for k, _ in ref.named_parameters()}
    for i in range(40):
        ref.zero_grad()
        F.binary_cross_entropy_with_logits(ref(x[i : i + 1]), y[i : i + 1]).backward()
        for k, p in ref.named_parameters():
            assert p.grad is not None
            grads[k].append(p.grad.clone())
    per_sample = {k: torch.stack(v) for k, v in grads.items()}
    flat = torch.cat([g.reshape(40, -1) for g in per_sample.values()], dim=1)
    ref_norms = flat.norm(dim=1)
    assert (ref_norms > clip).float().mean() > 0.5
    factor = (clip / (ref_norms + 1e-6)).clamp(max=1.0)
    expected = {k: (g * factor.view(-1, *[1] * (g.dim() - 1))).sum(0) for k, g in per_sample.items()}

    gsm = trainer.D_gsm
    assert gsm is not None
    trainer.optD.zero_grad(set_to_none=True)
    out = gsm(x)
    loss = F.binary_cross_entropy_with_logits(out, y, reduction="none")
    DPTensorFastGradientClipping(gsm, trainer.optD, loss, "mean").backward()  # type: ignore[arg-type]
    torch.testing.assert_close(gsm.per_sample_gradient_norms, ref_norms, rtol=1e-4, atol=1e-6)
    for k, p in trainer.D.named_parameters():
        torch.testing.assert_close(p.grad, expected[k], rtol=1e-4, atol=1e-7)
    # and so no single example moves the summed gradient by more than the bound
    assert float((flat * factor.view(-1, 1)).norm(dim=1).max()) <= clip * (1 + 1e-5)


def test_the_condition_loss_is_each_rows_cross_entropy_on_its_conditioned_column(
        adult_slice: pa.Table, adult_schema: TableSchema) -> None:
    """The one-gather loss equals CTGAN's definition, column by column."""
    layout = build_layout(adult_slice, adult_schema, ExactMeasurer())
    index = SpanIndex(layout, torch.device("cpu"))
    g = torch.Generator().manual_seed(3)
    n = 300
    raw = torch.randn((n, layout.width), generator=g, requires_grad=True)
    cats = layout.categorical()
    col = torch.randint(0, len(cats), (n,), generator=g)
    slot = torch.tensor([int(torch.randint(0, cats[int(j)][1].width, (1,), generator=g)) for j in col])
    expected = sum(
        F.cross_entropy(raw[i : i + 1, off : off + spec.width], slot[i : i + 1], reduction="sum")
        for i in range(n) for off, spec in [cats[int(col[i])]]
    ) / n
    got = cond_loss(raw, index, col, slot)
    assert torch.allclose(got, expected, rtol=1e-5)
    (grad,) = torch.autograd.grad(got, raw)
    (want,) = torch.autograd.grad(expected, raw)
    assert torch.isfinite(grad).all() and torch.allclose(grad, want, atol=1e-6)
    empty = torch.zeros((0, layout.width))
    assert cond_loss(empty, index, col[:0], slot[:0]).item() == 0.0
    numeric_only = build_layout(adult_slice.select(["age"]), TableSchema((adult_schema["age"],)), ExactMeasurer())
    assert cond_loss(raw[:, :numeric_only.width], SpanIndex(numeric_only, torch.device("cpu")),
                     col[:0], slot[:0]).item() == 0.0


def test_a_checkpoint_from_a_gpu_resumes_unfused_on_the_cpu(adult_slice: pa.Table,
                                                           adult_schema: TableSchema) -> None:
    """Fused Adam is a per-device choice; a checkpoint's flag must not carry over."""
    trainer, _, _ = _trainer(adult_slice, adult_schema, sigma=1.0)
    doc, tensors = trainer.state()
    for name in ("optG", "optD"):
        for g in doc[name]["param_groups"]:
            g["fused"] = True  # as written by a CUDA run
    trainer.load_state(doc, tensors)
    assert all(g["fused"] is None for o in (trainer.optG, trainer.optD) for g in o.param_groups)


def test_poisson_batches_vary_in_size_and_each_step_is_accounted(adult_slice: pa.Table,
                                                                 adult_schema: TableSchema) -> None:
    trainer, data, codes = _trainer(adult_slice, adult_schema, sigma=1.0)
    sizes = []
    orig = trainer.D_gsm.forward  # type: ignore[union-attr]

    def spy(x: torch.Tensor) -> torch.Tensor:
        sizes.append(x.shape[0] - 64)  # minus the fixed number of fake rows
        return orig(x)

    trainer.D_gsm.forward = spy  # type: ignore[method-assign,union-attr]
    trainer.train(data, codes, lambda p: None)
    assert len(sizes) == 2 and len(set(sizes)) == 2  # Poisson: random batch sizes
    assert trainer.accountant.history == [(1.0, 64 / adult_slice.num_rows, 2)]


def _fit(table: pa.Table, schema: TableSchema, seed: int = 0, **kw: object) -> DPCTGAN:
    params = {**SMALL, "epsilon": 1.0, "epochs": 2, **kw}
    gen = DPCTGAN(**params)  # type: ignore[arg-type]
    gen.fit(table, schema, rng=np.random.default_rng(seed))
    return gen


def _weights(gen: DPCTGAN) -> dict[str, torch.Tensor]:
    assert gen.net is not None
    return {k: v.clone() for k, v in gen.net.state_dict().items()}


def test_a_seed_fixes_the_model_and_the_samples(adult_slice: pa.Table, adult_schema: TableSchema) -> None:
    a, b = (_fit(adult_slice, adult_schema, seed=1, epochs=1) for _ in range(2))
    for k, v in _weights(a).items():
        torch.testing.assert_close(v, _weights(b)[k], rtol=0, atol=0)
    assert a.sample_table(500, seed=5).equals(b.sample_table(500, seed=5))
    assert not a.sample_table(500, seed=5).equals(a.sample_table(500, seed=6))
    batched = pa.Table.from_batches(list(a.sample(500, seed=5, batch_rows=128)))
    assert batched.num_rows == 500 and batched.schema == a.sample_table(1, seed=0).schema


def test_resume_after_a_crash_ends_with_the_same_epsilon_and_weights(
    adult: pa.Table, adult_schema: TableSchema, tmp_path: Path
) -> None:
    adult_slice = adult.slice(0, 750)  # 3 Poisson steps per epoch at batch 250
    whole = _fit(adult_slice, adult_schema, seed=3, epochs=3)

    def crash(p: Progress) -> None:
        if p.metrics.get("epoch") == 2.0:
            raise RuntimeError("power cut")

    broken = DPCTGAN(**{**SMALL, "epsilon": 1.0, "epochs": 3, "checkpoint_every": 1,  # type: ignore[arg-type]
                        "checkpoint_dir": str(tmp_path / "ckpt")})
    with pytest.raises(RuntimeError, match="power cut"):
        broken.fit(adult_slice, adult_schema, rng=np.random.default_rng(3), progress=crash)
    epochs_seen: list[float] = []
    resumed = DPCTGAN.resume(tmp_path / "ckpt", adult_slice, adult_schema,
                             progress=lambda p: epochs_seen.append(p.metrics.get("epoch", -1)))
    assert [e for e in epochs_seen if e > 0] == [3.0]  # preprocessing not run again
    assert whole.privacy is not None and resumed.privacy is not None
    assert resumed.privacy.epsilon == whole.privacy.epsilon
    assert resumed.privacy == whole.privacy
    for k, v in _weights(whole).items():
        torch.testing.assert_close(v, _weights(resumed)[k], rtol=0, atol=0)
    assert not list((tmp_path / "ckpt").glob("*.pickle"))
    with pytest.raises(Exception, match="different table"):
        DPCTGAN.resume(tmp_path / "ckpt", adult.slice(0, 500), adult_schema)


def test_short_cpu_training_writes_valid_parquet(adult_slice: pa.Table, adult_schema: TableSchema,
                                                 tmp_path: Path) -> None:
    events: list[Progress] = []
    gen = DPCTGAN(**{**SMALL, "epsilon": 1.0, "epochs": 2})  # type: ignore[arg-type]
    report = gen.fit(adult_slice, adult_schema, rng=np.random.default_rng(0), progress=events.append)
    assert report.epsilon is not None and report.epsilon <= 1.0
    assert [s.purpose for s in report.spends] == ["preprocessing", "training"]
    assert report.delta is not None and report.delta < 1 / adult_slice.num_rows
    epochs = [e for e in events if "epoch" in e.metrics]
    assert [e.metrics["epoch"] for e in epochs] == [1.0, 2.0]
    assert all({"loss_g", "epsilon"} <= set(e.metrics) for e in epochs)
    # The discriminator's loss is a sum over real rows and not DP: never reported.
    assert not any("loss_d" in e.metrics for e in events)
    assert epochs[0].epsilon_spent < epochs[1].epsilon_spent <= 1.0
    path = tmp_path / "out.parquet"
    n = write_parquet_atomic(path, gen.sample(3000, seed=1, batch_rows=1000),
                             adult_schema.arrow_schema(), metadata={"model": "test"})
    assert n == 3000
    back = pq.read_table(path)
    assert back.num_rows == 3000 and back.schema.remove_metadata() == adult_schema.arrow_schema()
    assert read_metadata(path)["model"] == "test"
    adult_schema.check_table(back)
    ages = back.column("age").to_numpy()
    assert ages.min() >= 0 and ages.max() <= 256
    workclass = set(back.column("workclass").drop_null().to_pylist())
    assert workclass <= set(adult_slice.column("workclass").drop_null().to_pylist()) | {"__other__"}
    # save / load: safetensors + JSON, the same samples afterwards
    gen.save(tmp_path / "model")
    assert load_file(str(tmp_path / "model" / "weights.safetensors"))
    loaded = load_generator(tmp_path / "model")
    assert loaded.sample_table(200, seed=9).equals(gen.sample_table(200, seed=9))


def test_non_private_mode_needs_the_flag_and_trains(adult_slice: pa.Table, adult_schema: TableSchema) -> None:
    with pytest.raises(PrivacyError):
        DPCTGAN(epsilon=None)
    gen = DPCTGAN(**{**SMALL, "epsilon": None, "epochs": 1, "allow_non_private": True})  # type: ignore[arg-type]
    report = gen.fit(adult_slice, adult_schema, rng=np.random.default_rng(0))
    assert report.epsilon is None and gen.plan(adult_schema, adult_slice.num_rows) == []
    assert gen.sample_table(100, seed=0).num_rows == 100


def test_a_cancel_from_the_progress_callback_stops_training(adult_slice: pa.Table,
                                                            adult_schema: TableSchema) -> None:
    seen: list[Progress] = []

    def cancel(p: Progress) -> None:
        seen.append(p)
        if p.phase == "training":
            raise Cancelled("stop")

    gen = DPCTGAN(**{**SMALL, "epsilon": 1.0, "epochs": 50})  # type: ignore[arg-type]
    with pytest.raises(Cancelled):
        gen.fit(adult_slice, adult_schema, rng=np.random.default_rng(0), progress=cancel)
    assert [p.phase for p in seen][-1] == "training" and len(seen) == 3
