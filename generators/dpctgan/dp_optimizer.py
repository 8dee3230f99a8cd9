"""Opacus' ghost-clipping DP optimizer with its Gaussian noise drawn from a secure stream.

Opacus draws DP-SGD noise with `torch.normal` from a `torch.Generator`
(Mersenne Twister on the CPU, Philox on CUDA): fine for training, not a
source an adversary cannot predict from a few outputs. Its `secure_mode`
needs `torchcsprng`, whose last release (0.2.1, 2021) was built for torch
1.8 and has no wheel for this Python or torch. So the noise comes from a
ChaCha20 stream instead (`synth.base.randomness`, the job's "noise/dp-sgd"
stream): float32 standard normals drawn by numpy, scaled by σ·C, moved to
each parameter's device.

`StreamNoiseDPOptimizer` overrides one method, `add_noise` (what
`DPOptimizerFastGradientClipping.pre_step` calls between accumulating the
clipped gradients and scaling them), with the same steps as Opacus 1.5/1.6
except where the normals come from. Like Opacus' default, the noise is
rounded to the parameters' float32 precision: it does not defend against
the floating-point attacks that Opacus' `secure_mode` sums four draws to
blunt (Mironov 2012; Jin et al. 2021).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from opacus.optimizers import DPOptimizerFastGradientClipping
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed


def gaussian_like(reference: torch.Tensor, std: float, stream: np.random.Generator) -> torch.Tensor:
    """N(0, std²) noise shaped like `reference`, on its device, from `stream`.

    float64 normals for a float64 tensor, float32 ones for every other dtype.
    """
    if std == 0:
        return torch.zeros_like(reference)
    shape = tuple(reference.shape)
    if reference.dtype == torch.float64:
        z: np.ndarray = stream.standard_normal(shape, dtype=np.float64)
    else:
        z = stream.standard_normal(shape, dtype=np.float32)
    # Scaled by numpy: a torch kernel on a small CPU tensor can wait on its thread pool
    # for longer than the whole draw takes.
    z *= z.dtype.type(std)
    return torch.from_numpy(z).to(device=reference.device, dtype=reference.dtype)


class StreamNoiseDPOptimizer(DPOptimizerFastGradientClipping):
    """`DPOptimizerFastGradientClipping` (ghost clipping) whose noise comes from `noise`."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, noise: np.random.Generator,
                 **kwargs: Any) -> None:
        if kwargs.get("generator") is not None or kwargs.get("secure_mode"):
            raise ValueError("the noise comes from `noise`; give no generator or secure_mode")
        super().__init__(optimizer, **kwargs)
        self.noise_stream = noise

    def add_noise(self) -> None:
        """Add N(0, (σ·C)²) to each parameter's summed clipped gradient; store it in `p.grad`."""
        # As Opacus: an adjusted multiplier (adaptive clipping) drives the noise, the
        # nominal one the accounting.
        multiplier = getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier)
        std = multiplier * self.max_grad_norm
        for p in self.params:
            _check_processed_flag(p.summed_grad)
            noise = gaussian_like(p.summed_grad, std, self.noise_stream)
            p.grad = (p.summed_grad + noise).view_as(p)
            _mark_as_processed(p.summed_grad)
