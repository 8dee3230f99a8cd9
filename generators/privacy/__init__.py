"""Privacy math and mechanisms shared by every generator."""

from generators.privacy.accounting import ZCDPBudget, ZCDPCharge
from generators.privacy.mechanisms import (
    Bounds,
    SelectedCategories,
    bin_edges,
    digitize,
    dp_bounds,
    dp_quantiles,
    dp_range,
    dp_select_categories,
    noisy_counts,
    to_distribution,
)
from generators.privacy.zcdp import cdp_delta, cdp_eps, cdp_rho, gaussian_rho, gaussian_sigma

__all__ = [
    "Bounds",
    "SelectedCategories",
    "ZCDPBudget",
    "ZCDPCharge",
    "bin_edges",
    "cdp_delta",
    "cdp_eps",
    "cdp_rho",
    "digitize",
    "dp_bounds",
    "dp_quantiles",
    "dp_range",
    "dp_select_categories",
    "gaussian_rho",
    "gaussian_sigma",
    "noisy_counts",
    "to_distribution",
]
