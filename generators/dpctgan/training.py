"""The GAN training loop: DP-SGD on the discriminator (Opacus ghost clipping) or plain CTGAN.

One DP step: draw real rows by Poisson sampling (rate q), pair each with
its own condition, add a fixed number of fake rows, and take one Opacus step
on the discriminator. Per-example norms come from ghost clipping (two
backward passes, no per-sample gradient materialised); each example's
gradient is clipped to `max_grad_norm`, and Gaussian noise σ·C is added. The
accountant records (σ, q) for every step; the loop runs exactly the planned
number of steps.

Each kind of randomness has its own stream (`TrainingRandomness`): the
initial weights, the Poisson masks, the training-time sampling (conditions,
generator inputs, Gumbel noise, dropout) and the DP-SGD noise, the last from
a ChaCha20 stream (`StreamNoiseDPOptimizer`). None of them can be told from
another, and none from the seed a caller gave.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from torch.nn import functional as F

from generators.dpctgan.accounting import (
    AccountantName,
    StepPlan,
    accountant_state,
    epsilon_of,
    load_accountant,
    new_accountant,
)
from generators.dpctgan.dp_optimizer import StreamNoiseDPOptimizer
from generators.dpctgan.layout import Layout
from generators.dpctgan.networks import (
    Discriminator,
    GeneratorNet,
    SpanIndex,
    activate,
    cond_loss,
    marginal_loss,
)
from generators.dpctgan.sampler import CondSampler, MatchedRows
from synth.base.progress import Progress, ProgressFn
from synth.base.randomness import RandomStreams, generator_state, set_generator_state


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (DP fields unused when `noise_multiplier` is None)."""

    plan: StepPlan
    batch_size: int
    embedding_dim: int
    generator_dim: tuple[int, ...]
    discriminator_dim: tuple[int, ...]
    lr: float
    max_grad_norm: float
    noise_multiplier: float | None  # None: non-DP CTGAN
    delta: float | None
    accountant: AccountantName
    checkpoint_every: int = 0
    #: Weight of the pull toward the released marginals (DP mode only; CTGAN's
    #: training-by-sampling skews non-DP batches on purpose).
    marginal_weight: float = 1.0

    @property
    def private(self) -> bool:
        return self.noise_multiplier is not None


#: Called at the end of each epoch that should be checkpointed, with the epoch count done.
CheckpointFn = Callable[[int], None]


def _mean(losses: list[torch.Tensor]) -> float:
    """The epoch's mean loss: one device-to-host copy an epoch, not one a step."""
    return float(torch.stack(losses).mean()) if losses else float("nan")


@dataclass
class TrainingRandomness:
    """The random streams of one training run, one per kind of draw.

    Each torch generator is seeded with 64 bits of its own keyed stream; the
    two draws the guarantee rests on, the Poisson masks that pick real rows and
    the DP-SGD noise, come from ChaCha20 streams themselves (a Mersenne Twister
    is predictable from its outputs; these are not).
    """

    init: torch.Generator  # on the CPU: the initial weights
    poisson: np.random.Generator  # ChaCha20: the Poisson masks that pick real rows
    sampling: torch.Generator  # on the device: conditions, generator inputs, Gumbel noise, dropout
    noise: np.random.Generator  # ChaCha20: the Gaussian noise of DP-SGD

    @classmethod
    def from_streams(cls, streams: RandomStreams, device: torch.device) -> TrainingRandomness:
        def seeded(purpose: str, on: torch.device) -> torch.Generator:
            return torch.Generator(device=on).manual_seed(streams.torch_seed(purpose))

        return cls(
            init=seeded("init", torch.device("cpu")),
            poisson=streams.generator("poisson"),
            sampling=seeded("sampling", device),
            noise=streams.child("noise").generator("dp-sgd"),
        )

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Where each stream stands (the initial weights are in the checkpoint already)."""
        tensors = {"rng.sampling": self.sampling.get_state()}
        return {"noise": generator_state(self.noise), "poisson": generator_state(self.poisson)}, tensors

    def load_state(self, doc: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        if "rng.sampling" not in tensors:
            # A checkpoint from before the streams were split (one generator for all):
            # the rest of the run draws from this run's streams, as fresh as they are.
            return
        self.sampling.set_state(tensors["rng.sampling"])
        set_generator_state(self.noise, doc["noise"])  # in place: the optimizer holds it
        if "poisson" in doc:  # older checkpoints drew masks from torch: fresh ChaCha masks
            set_generator_state(self.poisson, doc["poisson"])


class Trainer:
    """Owns the networks, optimizers, accountant and random streams of one run."""

    def __init__(self, layout: Layout, cfg: TrainConfig, device: torch.device,
                 streams: RandomStreams, codes: np.ndarray | None = None) -> None:
        self.layout, self.cfg, self.device = layout, cfg, device
        self.rand = TrainingRandomness.from_streams(streams, device)
        width, cond = layout.width, layout.cond_width
        init = self.rand.init  # weights are made on the CPU
        self.G = GeneratorNet(cfg.embedding_dim + cond, cfg.generator_dim, width, init).to(device)
        self.D = Discriminator(width + cond, cfg.discriminator_dim, init,
                               noise=self.rand.sampling).to(device)
        # On a GPU a step is bound by kernel launches; the fused Adam is one launch, not dozens.
        self._fused = True if device.type == "cuda" else None
        adam = {"lr": cfg.lr, "betas": (0.5, 0.9), "weight_decay": 1e-6, "fused": self._fused}
        self.optG = torch.optim.Adam(self.G.parameters(), **adam)  # type: ignore[arg-type]
        opt_d = torch.optim.Adam(self.D.parameters(), **adam)  # type: ignore[arg-type]
        self.accountant = new_accountant(cfg.accountant)
        self.matched: MatchedRows | None = None
        self.spans = SpanIndex(layout, device)
        self.epoch = 0
        self.D_gsm: GradSampleModuleFastGradientClipping | None = None
        if cfg.private:
            assert cfg.noise_multiplier is not None
            self.D_gsm = GradSampleModuleFastGradientClipping(
                self.D, max_grad_norm=cfg.max_grad_norm, use_ghost_clipping=True, loss_reduction="mean"
            )
            self.optD: torch.optim.Optimizer = StreamNoiseDPOptimizer(
                opt_d, noise=self.rand.noise, noise_multiplier=cfg.noise_multiplier,
                max_grad_norm=cfg.max_grad_norm, expected_batch_size=2 * cfg.batch_size,
                loss_reduction="mean",
            )
            self.sampler = CondSampler(layout, device)
        else:
            self.optD = opt_d
            sampler = CondSampler(layout, device)
            if codes is not None and sampler.n_cols:
                self.matched = MatchedRows(codes, sampler.max_width, device)
                self.sampler = CondSampler(layout, device, probs=self.matched.log_probs())
            else:
                self.sampler = sampler

    # --- one step of each kind ---------------------------------------------------

    def _fake(self, n: int, *, grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        gen = self.rand.sampling
        cond, col, slot = self.sampler.fake(n, gen)
        z = torch.randn((n, self.cfg.embedding_dim), generator=gen, device=self.device)
        with torch.set_grad_enabled(grad):
            raw = self.G(torch.cat([z, cond], dim=1))
            fake = activate(raw, self.spans, gen)
        return torch.cat([fake, cond], dim=1), raw, col, slot

    def dp_discriminator_step(self, data: torch.Tensor, codes: torch.Tensor) -> None:
        """One DP-SGD step on the discriminator.

        Its loss is computed on real rows and is not DP: it is never returned or reported.
        """
        assert self.D_gsm is not None
        q = self.cfg.plan.sample_rate
        mask = self.rand.poisson.random(data.shape[0]) < q
        take = torch.from_numpy(mask).to(self.device)
        idx = take.nonzero().squeeze(1)
        real = torch.cat([data[idx], self.sampler.real(codes[idx], self.rand.sampling)], dim=1)
        fake, _, _, _ = self._fake(self.cfg.batch_size, grad=False)
        x = torch.cat([real, fake.detach()], dim=0)
        target = torch.cat([torch.ones(len(real), device=self.device),
                            torch.zeros(len(fake), device=self.device)])
        self.optD.zero_grad(set_to_none=True)
        out = self.D_gsm(x)
        per_sample = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        with warnings.catch_warnings():  # the input rows need no gradient; Opacus warns anyway
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            DPTensorFastGradientClipping(self.D_gsm, self.optD, per_sample, "mean").backward()  # type: ignore[arg-type]
        self.optD.step()
        assert self.cfg.noise_multiplier is not None
        self.accountant.step(noise_multiplier=self.cfg.noise_multiplier, sample_rate=q)

    def plain_discriminator_step(self, data: torch.Tensor) -> None:
        """CTGAN's training-by-sampling: real rows drawn to match the fake rows' conditions."""
        n = self.cfg.batch_size
        gen = self.rand.sampling
        fake, _, col, slot = self._fake(n, grad=False)
        cond = fake[:, self.layout.width :]
        if self.matched is not None:
            perm = torch.randperm(n, generator=gen, device=self.device)
            idx = self.matched.draw(col[perm], slot[perm], gen)
            real = torch.cat([data[idx], cond[perm]], dim=1)
        else:
            idx = torch.randint(0, data.shape[0], (n,), generator=gen, device=self.device)
            real = torch.cat([data[idx], cond], dim=1)
        out = self.D(torch.cat([real, fake], dim=0))
        target = torch.cat([torch.ones(n, device=self.device), torch.zeros(n, device=self.device)])
        loss = F.binary_cross_entropy_with_logits(out, target)
        self.optD.zero_grad(set_to_none=True)
        loss.backward()
        self.optD.step()

    def generator_step(self) -> torch.Tensor:
        """The generator learns through the discriminator only; it never sees a real row."""
        if self.D_gsm is not None:
            self.D_gsm.disable_hooks()
        fake, raw, col, slot = self._fake(self.cfg.batch_size, grad=True)
        out = self.D(fake)
        loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        loss = loss + cond_loss(raw, self.spans, col, slot)
        if self.cfg.private and self.cfg.marginal_weight > 0:
            loss = loss + self.cfg.marginal_weight * marginal_loss(raw, self.spans)
        self.optG.zero_grad(set_to_none=True)
        loss.backward()
        self.optG.step()
        self.optD.zero_grad(set_to_none=True)
        if self.D_gsm is not None:
            self.D_gsm.enable_hooks()
        return loss.detach()

    # --- the loop ---------------------------------------------------------------------

    def epsilon(self) -> float:
        if not self.cfg.private:
            return 0.0
        assert self.cfg.delta is not None
        return epsilon_of(list(self.accountant.history), self.cfg.delta, self.cfg.accountant)

    def train(self, data: np.ndarray, codes: np.ndarray, progress: ProgressFn,
              checkpoint: CheckpointFn | None = None, *, epsilon_before: float = 0.0) -> None:
        """Train from `self.epoch` to the planned number of epochs.

        Progress reports ε spent in total: `epsilon_before` (preprocessing) plus DP-SGD so far,
        and the generator's mean loss, a loss on generated rows only (the discriminator's
        loss is a sum over real rows, not DP, and is never reported).
        """
        x = torch.as_tensor(data, device=self.device)
        c = torch.as_tensor(codes, dtype=torch.long, device=self.device)
        plan = self.cfg.plan
        self.G.train()
        self.D.train()
        while self.epoch < plan.epochs:
            g_losses: list[torch.Tensor] = []
            for step in range(plan.steps_per_epoch):
                if self.cfg.private:
                    self.dp_discriminator_step(x, c)
                else:
                    self.plain_discriminator_step(x)
                g_losses.append(self.generator_step())
                if step % 100 == 99:  # a chance to cancel within long epochs
                    progress(Progress("training", (self.epoch + step / plan.steps_per_epoch) / plan.epochs,
                                      message="training"))
            self.epoch += 1
            eps = epsilon_before + self.epsilon()
            if checkpoint is not None and self.cfg.checkpoint_every and (
                self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == plan.epochs
            ):
                checkpoint(self.epoch)
            progress(Progress(
                "training", self.epoch / plan.epochs, epsilon_spent=eps,
                message=f"epoch {self.epoch}/{plan.epochs}",
                metrics={"epoch": float(self.epoch), "loss_g": _mean(g_losses), "epsilon": eps},
            ))

    # --- state for checkpoints -----------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able config, named tensors) from which `load_state` resumes exactly."""
        tensors: dict[str, torch.Tensor] = {}
        tensors.update({f"G.{k}": v for k, v in self.G.state_dict().items()})
        tensors.update({f"D.{k}": v for k, v in self.D.state_dict().items()})
        doc: dict[str, Any] = {"epoch": self.epoch, "accountant": accountant_state(self.accountant)}
        for name, opt in (("optG", self.optG), ("optD", self.optD)):
            sd = opt.state_dict()
            doc[name] = {"param_groups": sd["param_groups"], "ids": []}
            for pid, st in sd["state"].items():
                doc[name]["ids"].append(pid)
                for k, v in st.items():
                    tensors[f"{name}.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        # Where each stream stands: the checkpoint continues the same streams (it holds
        # their positions and derived keys, never the server secret).
        doc["streams"], rng_tensors = self.rand.state()
        tensors.update(rng_tensors)
        return doc, {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    def load_state(self, doc: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.G.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
        self.D.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("D.")})
        for name, opt in (("optG", self.optG), ("optD", self.optD)):
            state: dict[int, dict[str, torch.Tensor]] = {}
            for pid in doc[name]["ids"]:
                prefix = f"{name}.{pid}."
                state[int(pid)] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            # Fused Adam follows this run's device, not the one the checkpoint was written on.
            groups = [{**g, "fused": self._fused} for g in doc[name]["param_groups"]]
            opt.load_state_dict({"state": state, "param_groups": groups})
        self.accountant = load_accountant(doc["accountant"])
        self.epoch = int(doc["epoch"])
        self.rand.load_state(doc.get("streams", {}), tensors)
