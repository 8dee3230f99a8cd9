"""AIM: adaptive, workload-aware selection of DP marginals, with Private-PGM estimation.

Our own numpy implementation (no JAX, no `mbi` at runtime): see docs/bench/aim.md
for why, and for how it compares with the reference.
"""

from generators.aim.model import AIM

__all__ = ["AIM"]
