"""DP-CTGAN: CTGAN whose whole pipeline is differentially private.

    from generators import DPCTGAN
    gen = DPCTGAN(epsilon=3.0, epochs=20)
    report = gen.fit(table, schema)          # streams= or rng= to fix the draws
    rows = gen.sample_table(10_000, seed=7)

The (ε, δ) target is split: `preprocessing_share` of it measures, with zCDP
Gaussian mechanisms, whatever the schema does not declare public (bounds,
category sets, quantile modes, the conditional sampler's frequencies); the
rest trains the discriminator with Opacus DP-SGD (Poisson sampling, ghost
clipping, σ calibrated for exactly the planned steps). `epsilon=None`
trains plain CTGAN, and only with `allow_non_private=True`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import torch

from generators.base import Generator, PrivacyReport
from generators.dpctgan.accounting import (
    AccountantName,
    calibrate_noise,
    plan_steps,
    split_budget,
)
from generators.dpctgan.checkpoint import load_checkpoint, save_checkpoint
from generators.dpctgan.layout import Layout
from generators.dpctgan.networks import GeneratorNet, SpanIndex, draw
from generators.dpctgan.preprocess import (
    DPMeasurer,
    ExactMeasurer,
    Measurer,
    ModeConfig,
    build_layout,
    count_measurements,
    missing_declarations,
)
from generators.dpctgan.sampler import CondSampler
from generators.dpctgan.training import TrainConfig, Trainer
from generators.dpctgan.transformer import decode, encode
from generators.privacy import ZCDPBudget
from synth.base.errors import InvalidArgument, PrivacyError
from synth.base.progress import Progress, ProgressFn
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.spend import Spend
from synth.base.tableio import fingerprint

__all__ = ["DPCTGAN"]

Device = Literal["auto", "cpu", "cuda"]


def resolve_device(device: str) -> torch.device:
    """"auto" picks CUDA when present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise InvalidArgument(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidArgument("device='cuda' asked for, but no CUDA device is available")
    return torch.device(device)


@dataclass(frozen=True)
class _Preprocessed:
    layout: Layout
    epsilon: float
    delta: float


class DPCTGAN(Generator):
    """Conditional tabular GAN with a DP-SGD discriminator and DP preprocessing."""

    kind = "dpctgan"
    checkpointing = True
    non_private = True
    devices = ("cpu", "cuda")

    def __init__(
        self,
        *,
        epsilon: float | None,
        delta: float | None = None,
        epochs: int = 20,
        batch_size: int = 500,
        generator_dim: tuple[int, ...] | list[int] = (256, 256),
        discriminator_dim: tuple[int, ...] | list[int] = (256, 256),
        embedding_dim: int = 128,
        lr: float = 2e-4,
        max_grad_norm: float = 1.0,
        preprocessing_share: float = 0.1,
        n_modes: int = 10,
        marginal_weight: float = 1.0,
        accountant: AccountantName = "rdp",
        device: Device = "auto",
        checkpoint_every: int = 0,
        checkpoint_dir: str | None = None,
        allow_non_private: bool = False,
    ) -> None:
        super().__init__(epsilon=epsilon, delta=delta)
        if epsilon is None and not allow_non_private:
            raise PrivacyError(
                "epsilon=None trains a non-private model; only sources registered as allowing "
                "non-private models may do that (allow_non_private=True)"
            )
        if device not in ("auto", "cpu", "cuda"):
            raise InvalidArgument(f"device must be auto, cpu or cuda, got {device!r}")
        if accountant not in ("rdp", "prv"):
            raise InvalidArgument(f"accountant must be 'rdp' or 'prv', got {accountant!r}")
        if epochs < 1 or batch_size < 1 or embedding_dim < 1 or n_modes < 1:
            raise InvalidArgument("epochs, batch_size, embedding_dim and n_modes must be positive")
        if not max_grad_norm > 0 or not lr > 0 or marginal_weight < 0:
            raise InvalidArgument("max_grad_norm and lr must be positive, marginal_weight non-negative")
        if not 0 <= preprocessing_share < 1:
            raise InvalidArgument(f"preprocessing_share must be in [0, 1), got {preprocessing_share}")
        if checkpoint_every < 0:
            raise InvalidArgument("checkpoint_every must be non-negative")
        self.epochs = epochs
        self.batch_size = batch_size
        self.generator_dim = tuple(int(d) for d in generator_dim)
        self.discriminator_dim = tuple(int(d) for d in discriminator_dim)
        self.embedding_dim = embedding_dim
        self.lr = lr
        self.max_grad_norm = max_grad_norm
        self.preprocessing_share = preprocessing_share
        self.n_modes = n_modes
        self.marginal_weight = marginal_weight
        self.accountant: AccountantName = accountant
        self.device = device
        self.checkpoint_every = checkpoint_every
        self.checkpoint_dir = checkpoint_dir
        self.allow_non_private = allow_non_private
        self.layout: Layout | None = None
        self.net: GeneratorNet | None = None
        self._resume_from: Path | None = None

    def params(self) -> dict[str, Any]:
        return {
            **super().params(), "epochs": self.epochs, "batch_size": self.batch_size,
            "generator_dim": list(self.generator_dim), "discriminator_dim": list(self.discriminator_dim),
            "embedding_dim": self.embedding_dim, "lr": self.lr, "max_grad_norm": self.max_grad_norm,
            "preprocessing_share": self.preprocessing_share, "n_modes": self.n_modes,
            "marginal_weight": self.marginal_weight,
            "accountant": self.accountant, "device": self.device,
            "checkpoint_every": self.checkpoint_every, "checkpoint_dir": self.checkpoint_dir,
            "allow_non_private": self.allow_non_private,
        }

    # --- planning: public facts only ---------------------------------------------------

    def _check(self, schema: TableSchema, n_rows: int) -> None:
        resolve_device(self.device)  # device="cuda" where there is none
        if schema.max_rows_per_unit > 1:
            # DP-SGD's accountant is per sampled row: units of k rows would need units
            # sampled whole and noise scaled by k, which this trainer does not do.
            raise PrivacyError(
                f"dpctgan bounds each privacy unit to one row; the schema keeps up to "
                f"{schema.max_rows_per_unit} (privacy_unit.max_rows). Set max_rows to 1, "
                "or use aim or dp_marginals, which scale their noise with it"
            )

    def _plan(self, schema: TableSchema, n_rows: int, epsilon: float, delta: float) -> list[Spend]:
        split = split_budget(epsilon, delta, self.preprocessing_share)
        spends = []
        if self.preprocessing_share > 0:
            spends.append(Spend("preprocessing", split.preprocessing_epsilon,
                                split.preprocessing_delta, "zcdp-gaussian"))
        else:
            self._refuse_if_undeclared(schema)
        # The σ the fit will calibrate, for exactly these steps: a target no σ reaches is
        # refused here, not after the charge, preprocessing and reading the rows.
        calibrate_noise(split.train_epsilon, split.train_delta,
                        plan_steps(n_rows, self.batch_size, self.epochs), self.accountant)
        spends.append(Spend("training", split.train_epsilon, split.train_delta, f"dp-sgd/{self.accountant}"))
        return spends

    @staticmethod
    def _refuse_if_undeclared(schema: TableSchema) -> None:
        missing = missing_declarations(schema)
        if missing:
            raise PrivacyError(
                "preprocessing_share=0 leaves no budget to learn " + ", ".join(missing)
                + "; declare them public in the schema or set preprocessing_share > 0"
            )

    # --- fitting ---------------------------------------------------------------------

    def _preprocess(self, table: pa.Table, schema: TableSchema, noise: RandomStreams) -> _Preprocessed:
        cfg = ModeConfig(n_modes=self.n_modes)
        if self.epsilon is None:
            return _Preprocessed(build_layout(table, schema, ExactMeasurer(), cfg), 0.0, 0.0)
        delta = self.resolved_delta(self.n_train_rows)  # the public size, as planned
        assert delta is not None
        split = split_budget(self.epsilon, delta, self.preprocessing_share)
        if self.preprocessing_share == 0:
            self._refuse_if_undeclared(schema)
            return _Preprocessed(build_layout(None, schema, None, cfg), 0.0, 0.0)
        _, selections = count_measurements(schema)
        budget = ZCDPBudget(split.preprocessing_epsilon, split.preprocessing_delta,
                            selection_delta=split.preprocessing_delta / 2 if selections else 0.0)
        measurer: Measurer = DPMeasurer(budget, schema, noise)
        layout = build_layout(table, schema, measurer, cfg)
        eps, dlt = budget.spent()
        return _Preprocessed(layout, eps, dlt)

    def _train_config(self, n_rows: int) -> tuple[TrainConfig, float, float]:
        plan = plan_steps(n_rows, self.batch_size, self.epochs)
        sigma, train_delta = None, None
        if self.epsilon is not None:
            delta = self.resolved_delta(n_rows)
            assert delta is not None
            split = split_budget(self.epsilon, delta, self.preprocessing_share)
            sigma = calibrate_noise(split.train_epsilon, split.train_delta, plan, self.accountant)
            train_delta = split.train_delta
        cfg = TrainConfig(
            plan=plan, batch_size=self.batch_size, embedding_dim=self.embedding_dim,
            generator_dim=self.generator_dim, discriminator_dim=self.discriminator_dim, lr=self.lr,
            max_grad_norm=self.max_grad_norm, noise_multiplier=sigma, delta=train_delta,
            accountant=self.accountant, checkpoint_every=self.checkpoint_every if self.checkpoint_dir else 0,
            marginal_weight=self.marginal_weight,
        )
        return cfg, sigma or 0.0, train_delta or 0.0

    def _fit(self, table: pa.Table, schema: TableSchema, streams: RandomStreams,
             progress: ProgressFn) -> PrivacyReport:
        device = resolve_device(self.device)
        resume = load_checkpoint(self._resume_from) if self._resume_from else None
        table_id = fingerprint(table)
        if resume is not None:
            doc = resume[0]
            if doc["table"] != table_id:
                raise InvalidArgument("the checkpoint was made on a different table; cannot resume")
            pre = _Preprocessed(Layout.from_json(doc["layout"]), doc["pre"][0], doc["pre"][1])
        else:
            progress(Progress("preprocessing", 0.0, message="measuring the columns"))
            pre = self._preprocess(table, schema, streams.child("noise").child("preprocessing"))
            # Fraction is of the whole fit: training, which follows, is nearly all of it.
            progress(Progress("preprocessing", 0.0, epsilon_spent=pre.epsilon, message="layout ready"))
        data, codes = encode(table, schema, pre.layout)
        cfg, sigma, train_delta = self._train_config(self.n_train_rows)
        trainer = Trainer(pre.layout, cfg, device, streams, codes=codes)
        if resume is not None:  # generator states stay on the CPU, where torch keeps them
            trainer.load_state(resume[0]["trainer"], {k: v if k.startswith("rng") else v.to(device)
                                                      for k, v in resume[1].items()})

        def checkpoint(epoch: int) -> None:
            doc, tensors = trainer.state()
            assert self.checkpoint_dir is not None
            save_checkpoint(self.checkpoint_dir, epoch, {
                "params": self.params(), "table": table_id, "layout": pre.layout.to_json(),
                "pre": [pre.epsilon, pre.delta], "trainer": doc,
            }, tensors)

        trainer.train(data, codes, progress, checkpoint if self.checkpoint_dir else None,
                      epsilon_before=pre.epsilon)
        self.layout = pre.layout
        self.net = trainer.G.eval()
        if self.epsilon is None:
            return PrivacyReport(None, None, "none", details={"steps": float(cfg.plan.steps)})
        eps_train = trainer.epsilon()
        spends = []
        if self.preprocessing_share > 0:
            spends.append(Spend("preprocessing", pre.epsilon, pre.delta, "zcdp-gaussian"))
        spends.append(Spend("training", eps_train, train_delta, f"dp-sgd/{self.accountant}"))
        return PrivacyReport(
            epsilon=min(pre.epsilon + eps_train, self.epsilon), delta=pre.delta + train_delta,
            accountant=self.accountant, spends=tuple(spends),
            details={"noise_multiplier": sigma, "sample_rate": cfg.plan.sample_rate,
                     "steps": float(cfg.plan.steps), "max_grad_norm": self.max_grad_norm,
                     "epochs": float(self.epochs)},
        )

    @classmethod
    def resume(cls, checkpoint_dir: str | Path, table: pa.Table, schema: TableSchema, *,
               size: int | None = None, streams: RandomStreams | None = None,
               progress: ProgressFn | None = None) -> DPCTGAN:
        """Finish a training that stopped (crash, cancel) from its last checkpoint.

        Preprocessing is not run again (its budget is already spent); the
        networks, optimizers, accountant and the position of every random
        stream are restored, so the run ends with exactly the ε (and the
        weights) it would have had. `streams` (the job's) matter only for a
        checkpoint written before the streams were saved in it: the rest of
        that run draws from them (fresh ones when not given). `size` is the
        public size the fit was planned with, as for `fit`.
        """
        doc, _ = load_checkpoint(checkpoint_dir)
        obj = cls(**{**doc["params"], "checkpoint_dir": str(checkpoint_dir)})
        obj._resume_from = Path(checkpoint_dir)
        obj.fit(table, schema, size=size, streams=streams, progress=progress)
        obj._resume_from = None
        return obj

    # --- sampling and persistence ---------------------------------------------------------

    def _sample_modelled(self, n: int, rng: np.random.Generator) -> dict[str, pa.Array | np.ndarray]:
        schema = self._require_fitted()
        assert self.layout is not None and self.net is not None
        device = next(self.net.parameters()).device
        gen = torch.Generator(device=device)
        gen.manual_seed(int(rng.integers(0, 2**63 - 1)))
        sampler = CondSampler(self.layout, device)
        with torch.inference_mode():
            cond, _, _ = sampler.fake(n, gen)
            z = torch.randn((n, self.embedding_dim), generator=gen, device=device)
            raw = self.net(torch.cat([z, cond], dim=1))
            noise = None
            if device.type == "cpu":  # numpy's exponential sampler is ~2× torch's on the CPU
                noise = torch.from_numpy(rng.standard_exponential(raw.shape, dtype=np.float32))
            alphas, slots = draw(raw, SpanIndex(self.layout, device), gen, noise)
        return decode(alphas.cpu().numpy(), slots.cpu().numpy(), schema, self.layout)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.layout is not None and self.net is not None
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        return {"layout": self.layout.to_json()}, arrays

    def _from_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.layout = Layout.from_json(config["layout"])
        device = resolve_device(self.device)
        init = torch.Generator()  # the initial weights are overwritten below
        net = GeneratorNet(self.embedding_dim + self.layout.cond_width, self.generator_dim,
                           self.layout.width, init).to(device)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
        self.net = net.eval()
