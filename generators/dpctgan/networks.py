"""The CTGAN networks, with every random draw taken from an injected torch.Generator.

The discriminator is the only network that sees real rows, so nothing in it
mixes examples: Linear, LeakyReLU and per-example dropout only (no
BatchNorm, pac = 1), which is what per-sample clipping needs. The generator
never sees a real row and keeps CTGAN's residual BatchNorm blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from generators.dpctgan.layout import Layout


def init_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """torch's default Linear init, drawn from `gen` instead of the global RNG."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=gen)
    bound = 1 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
    nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


class SeededDropout(nn.Module):
    """Dropout whose masks come from a torch.Generator (nn.Dropout uses the global RNG)."""

    def __init__(self, p: float, gen: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.gen = gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.gen, device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Residual(nn.Module):
    """CTGAN's generator block: Linear → BatchNorm → ReLU, concatenated to the input."""

    def __init__(self, i: int, o: int, gen: torch.Generator) -> None:
        super().__init__()
        self.fc = nn.Linear(i, o)
        init_linear(self.fc, gen)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


class GeneratorNet(nn.Module):
    def __init__(self, in_dim: int, dims: Sequence[int], out_dim: int, gen: torch.Generator) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        d = in_dim
        for h in dims:
            blocks.append(Residual(d, h, gen))
            d += h
        last = nn.Linear(d, out_dim)
        init_linear(last, gen)
        self.seq = nn.Sequential(*blocks, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class Discriminator(nn.Module):
    """Per-example MLP critic: no layer here combines two rows."""

    def __init__(self, in_dim: int, dims: Sequence[int], gen: torch.Generator, dropout: float = 0.5,
                 *, noise: torch.Generator | None = None) -> None:
        """`gen` (a CPU generator) draws the initial weights; `noise` (on the training
        device, default `gen`) draws the dropout masks."""
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in dims:
            fc = nn.Linear(d, h)
            init_linear(fc, gen)
            layers += [fc, nn.LeakyReLU(0.2), SeededDropout(dropout, noise or gen)]
            d = h
        last = nn.Linear(d, 1)
        init_linear(last, gen)
        self.seq = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x).squeeze(-1)


class SpanIndex:
    """The one-hot spans gathered into a padded [spans, widest] block: no loop over spans."""

    def __init__(self, layout: Layout, device: torch.device) -> None:
        spans = layout.spans()
        self.width = layout.width
        self.alpha_cols = torch.tensor([s.start for s in spans if s.activation == "tanh"],
                                       dtype=torch.long, device=device)
        soft = [s for s in spans if s.activation != "tanh"]
        widest = max((s.stop - s.start for s in soft), default=1)
        idx = torch.zeros((len(soft), widest), dtype=torch.long)
        pad = torch.ones((len(soft), widest), dtype=torch.bool)
        for k, s in enumerate(soft):
            idx[k, : s.stop - s.start] = torch.arange(s.start, s.stop)
            pad[k, : s.stop - s.start] = False
        self.shape = (len(soft), widest)
        self.idx = idx.flatten().to(device)
        self.pad = pad.to(device)
        self.valid = (~pad).flatten().nonzero().squeeze(1).to(device)  # block positions in use
        self.soft_cols = self.idx[self.valid]
        target = torch.zeros((len(soft), widest), dtype=torch.float32)
        for k, t in enumerate(layout.span_targets()):
            target[k, : len(t)] = torch.as_tensor(t, dtype=torch.float32)
        self.target = target.to(device)
        # the block row of each categorical column's span, in layout.categorical() order
        row_of_start = {s.start: k for k, s in enumerate(soft)}
        self.cat_rows = torch.tensor([row_of_start[off] for off, _ in layout.categorical()],
                                     dtype=torch.long, device=device)

    def block(self, x: torch.Tensor) -> torch.Tensor:
        """[rows, spans, widest] view of the one-hot columns, padding at -inf."""
        b = x.index_select(1, self.idx).view(x.shape[0], *self.shape)
        return b.masked_fill(self.pad, float("-inf"))


def gumbel_noise(like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise from `gen` (F.gumbel_softmax would use the global RNG)."""
    return -torch.empty_like(like).exponential_(generator=gen).log_()


def activate(raw: torch.Tensor, index: SpanIndex, gen: torch.Generator, tau: float = 0.2) -> torch.Tensor:
    """Training-time activations: tanh for α, Gumbel-softmax (τ = 0.2) for each one-hot span."""
    soft = torch.softmax(index.block((raw + gumbel_noise(raw, gen)) / tau), dim=2)
    out = raw.new_zeros((raw.shape[0], index.width))
    out = out.index_copy(1, index.soft_cols, soft.flatten(1).index_select(1, index.valid))
    return out.index_copy(1, index.alpha_cols, torch.tanh(raw.index_select(1, index.alpha_cols)))


def draw(raw: torch.Tensor, index: SpanIndex, gen: torch.Generator,
         exponential: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling-time output: (α of each tanh span, a drawn slot of each one-hot span).

    One Gumbel draw over the whole output, then one argmax over the padded
    block: the same distribution as a categorical draw from each span's softmax.
    `exponential` (standard exponential noise shaped like `raw`) may be given
    when the caller has a faster source of it (numpy's ziggurat on the CPU).
    """
    e = torch.empty_like(raw).exponential_(generator=gen) if exponential is None else exponential
    block = (raw - e.log_()).index_select(1, index.idx).view(raw.shape[0], *index.shape)
    slots = block.masked_fill_(index.pad, float("-inf")).argmax(dim=2)
    return torch.tanh(raw.index_select(1, index.alpha_cols)), slots


def marginal_loss(raw: torch.Tensor, index: SpanIndex) -> torch.Tensor:
    """Mean KL(target ‖ batch-average softmax) over the one-hot spans.

    The targets are released DP numbers (or public uniforms), so pulling the
    generator toward them costs no privacy; it steadies the marginals that
    a noisy discriminator alone teaches slowly.
    """
    if index.target.numel() == 0 or raw.shape[0] == 0:
        return raw.new_zeros(())
    p = torch.softmax(index.block(raw), dim=2).mean(dim=0)
    t = index.target
    kl = t * (torch.log(t + 1e-8) - torch.log(p + 1e-8))
    return kl.sum() / t.shape[0]


def cond_loss(raw: torch.Tensor, index: SpanIndex, col: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the conditioned column's logits against the asked slot (CTGAN).

    Each row's conditioned span is gathered from the padded block in one go:
    no per-column boolean indexing, so no host-device synchronisation per column.
    """
    n = raw.shape[0]
    if n == 0 or index.cat_rows.numel() == 0:
        return raw.new_zeros(())
    rows = index.cat_rows[col]
    width = index.shape[1]
    logits = raw.gather(1, index.idx.view(-1, width)[rows]).masked_fill(index.pad[rows], float("-inf"))
    return F.cross_entropy(logits, slot, reduction="sum") / n
