"""Independent DP marginals: the fast, honest baseline generator (`dp_marginals`)."""

from generators.dp_marginals.model import DPMarginals

__all__ = ["DPMarginals"]
