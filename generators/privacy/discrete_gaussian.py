"""Exact samples of the discrete Gaussian N_Z(0, σ²), from integers only.

The discrete Gaussian puts mass ∝ exp(−x²/(2σ²)) on every integer x. Added
to integer counts of L2 sensitivity 1 with σ² = 1/(2ρ) it is ρ-zCDP, the same
guarantee as the continuous Gaussian (Canonne, Kamath & Steinke, "The
Discrete Gaussian for Differential Privacy", NeurIPS 2020, Theorem 4), and
unlike a floating-point normal it has no low-order bits to leak (Mironov 2012).

The sampler is the paper's (§5):

- Algorithm 1, Bernoulli(exp(−γ)) for a rational γ = n/d ∈ [0, 1]: draw
  A_k ~ Bernoulli(γ/k) for k = 1, 2, ... until one is 0; output 1 iff that k
  is odd. For γ > 1, AND ⌊γ⌋ draws of Bernoulli(exp(−1)) with one of
  Bernoulli(exp(−(γ − ⌊γ⌋))).
- Algorithm 2, the discrete Laplace with integer scale t: U uniform in
  [0, t), kept with probability exp(−U/t); V the number of Bernoulli(exp(−1))
  successes before the first failure; X = U + tV; a fair sign, rejecting −0.
- Algorithm 3: t = ⌊σ⌋ + 1 (see below for very large σ²); propose Y from the
  discrete Laplace and accept it with probability exp(−(|Y| − σ²/t)²/(2σ²)),
  the ratio of the two mass functions up to a constant (any t > 0 is correct;
  t ≈ σ makes acceptance likely).

Why it is exact: every random choice is a Bernoulli(n/d) with integers
0 ≤ n ≤ d, decided as `rng.integers(0, d) < n`, and numpy's bounded integers
are unbiased (rejection, not a modulus). Everything else is integer
arithmetic: σ² is a fraction a/b, and γ = (|Y|bt − a)²/(2abt²) is split into
its integer part and remainder with integer division. No float is drawn or
computed on the way to a sample, so the output has exactly the discrete
Gaussian's distribution, given uniform integers from `rng`.

Vectorised: a pass runs Algorithms 2 and 3 on a batch of independent
proposals at once with numpy int64 arrays (a rejection anywhere, in the
Laplace step or the Gaussian one, is a restart, as in the paper); the
accepted ones, in proposal order, fill the output, and a further pass tops up
what is missing. Which proposals are used depends only on how many were
accepted, never on their values, so the outputs are i.i.d. N_Z(0, σ²).

Overflow, and the bound on σ²'s denominator. int64 must hold d, n and the
square of |Y|bt − a. So σ² is first rounded UP (the noise is never smaller
than asked) to a/b with b = 2^k and a ≤ 2^26 (`_BITS`):

- σ² ≤ 2^26: k = 26 − ⌈log₂ σ²⌉ (at most 26), a = ⌈σ²·2^k⌉. Relative
  increase below 2^−25 (3e-8) for σ² ≥ 1, absolute below 2^−26 otherwise.
  Then d = 2abt²/g² ≤ 8a² ≤ 2^55 (g = gcd(a, bt)).
- σ² > 2^26 (ρ < 7.5e-9): b = 1, t the power of two in (σ, 2σ], and a = σ²
  rounded up to a multiple of t (relative increase below 2/σ < 2.5e-4), so
  σ²/t is an integer and d = 2a. σ² above 2^60 is refused.

|Y|bt − a fits in int64 and squares within it unless |Y| exceeds about 22σ
(for σ² up to 2^54; a chance below e^−22 a proposal); those entries are done
with Python integers.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.special import ndtri

#: σ² = a/b with a ≤ 2^_BITS and b ≤ 2^_BITS (a power of two) up to σ² = 2^_BITS.
_BITS = 26
_MAX_SIGMA2 = 2**60
_INT64_MAX = 2**63 - 1
_SQRT_INT64_MAX = math.isqrt(_INT64_MAX)
_BLOCK = 2  # Bernoulli(exp(−1)) draws per entry and pass in `_run_of_exp_minus_one`


def _represent(sigma2: Fraction) -> tuple[int, int, int]:
    """(a, b, t): σ² rounded up to a/b as the module docstring says, and the Laplace scale t."""
    if sigma2 <= 0:
        raise ValueError(f"sigma2 must be positive, got {sigma2}")
    if sigma2 > _MAX_SIGMA2:
        raise ValueError(f"sigma2 above 2^60 is not supported, got {float(sigma2):.3g}")
    e = (math.ceil(sigma2) - 1).bit_length()  # the least e >= 0 with σ² <= 2^e
    if e <= _BITS:
        b = 2 ** (_BITS - e)
        a = math.ceil(sigma2 * b)
        return a, b, math.isqrt(a // b) + 1
    t = 2 ** ((math.floor(sigma2).bit_length() + 1) // 2)  # t² > σ² >= t²/4
    return t * math.ceil(sigma2 / t), 1, t


def discrete_gaussian_sigma2(rho: float) -> Fraction:
    """σ² of the discrete Gaussian that is ρ-zCDP at L2 sensitivity 1: 1/(2ρ), rounded up.

    CKS20 Theorem 4: N_Z(0, σ²) added to an integer query of L2 sensitivity Δ
    is Δ²/(2σ²)-zCDP, as the continuous Gaussian. Rounding σ² up keeps it
    within ρ; `rho` (a float) is read exactly.
    """
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho}")
    a, b, _ = _represent(Fraction(1, 2) / Fraction(rho))
    return Fraction(a, b)


def sample_discrete_gaussian(
    sigma2: Fraction, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """int64 samples of N_Z(0, σ²) (σ² rounded up as documented), drawing only `rng.integers`."""
    a, b, t = _represent(Fraction(sigma2))
    g = math.gcd(a, b * t)
    m, a_g = b * t // g, a // g
    den = 2 * a_g * m * t  # γ = (|Y|·m − a_g)² / den
    y_safe = _SQRT_INT64_MAX // m  # |Y| <= y_safe: |Y|·m − a_g squares within int64
    n = math.prod(size) if isinstance(size, tuple) else int(size)
    out = np.empty(n, dtype=np.int64)
    filled, rate = 0, 0.45  # a proposal is accepted with probability 0.35–0.48
    while filled < n:
        proposals = int((n - filled) / rate * 1.1) + 64  # one pass, most of the time
        y, ok = _discrete_laplace(t, proposals, rng)
        idx = np.flatnonzero(ok)
        absy = np.abs(y[idx])
        c = absy * m - a_g
        q, r = np.divmod(c * c, den)
        for i in np.flatnonzero(absy > y_safe):  # rare: exact in Python integers
            qq, rr = divmod((int(absy[i]) * m - a_g) ** 2, den)
            q[i], r[i] = min(qq, _INT64_MAX), rr
        accepted = y[idx[_bernoulli_exp(q, r, den, rng)]][: n - filled]
        out[filled : filled + accepted.size] = accepted
        filled += accepted.size
        rate = max(accepted.size / proposals, 0.1)
    return out.reshape(size)


def discrete_gaussian_threshold(sigma2: Fraction, delta: float) -> int:
    """An integer m with P[X >= m] <= δ for X ~ N_Z(0, σ²): m = 1 + ⌈σ·Φ⁻¹(1 − δ)⌉.

    For m >= 1, P[X >= m] <= P[N(0, σ²) >= m − 1]: each mass exp(−x²/(2σ²))
    with x >= 1 is at most the integral of the density over [x − 1, x], and
    the normaliser Σ_x exp(−x²/(2σ²)) is at least √(2π)σ (Poisson summation).
    The ceiling is exact (integer square root); Φ⁻¹ is scipy's `ndtri`, taken
    at δ (not 1 − δ, which rounds away small δs).
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    a, b, _ = _represent(Fraction(sigma2))
    z = -float(ndtri(delta))
    if z <= 0:
        return 1  # δ >= 1/2 >= P[X >= 1]
    sz2 = Fraction(a, b) * Fraction(z) ** 2  # (σz)², exactly
    return 1 + math.isqrt(math.ceil(sz2) - 1) + 1  # 1 + the least k >= 0 with k² >= (σz)²


def _discrete_laplace(t: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CKS20 Algorithm 2 with scale t, once: (proposals, whether each was kept)."""
    x = rng.integers(0, t, n)
    ok = _bernoulli_exp_fraction(x, t, rng)  # keep U with probability exp(−U/t)
    go = np.flatnonzero(ok)
    x[go] += t * _run_of_exp_minus_one(go.size, rng)  # + tV
    negative = _uniform(2, n, rng) == 1
    ok &= ~(negative & (x == 0))
    return np.where(negative, -x, x), ok


def _bernoulli_exp(q: np.ndarray, r: np.ndarray, den: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli(exp(−(q + r/den))) per entry: q draws of Bernoulli(exp(−1)), then exp(−r/den)."""
    out = np.ones(q.size, dtype=bool)
    idx = np.flatnonzero(q > 0)
    out[idx] = _run_of_exp_minus_one(idx.size, rng) >= q[idx]  # q successes in a row
    idx = np.flatnonzero(out & (r > 0))
    out[idx] = _bernoulli_exp_fraction(r[idx], den, rng)
    return out


def _bernoulli_exp_fraction(num: np.ndarray, den: int, rng: np.random.Generator) -> np.ndarray:
    """CKS20 Algorithm 1: Bernoulli(exp(−num/den)) per entry, 0 <= num <= den."""
    a = _uniform(den, num.size, rng) < num  # A_1 ~ Bernoulli(num/den)
    out = ~a  # stopped at K = 1, odd: 1
    active, k = np.flatnonzero(a), 2
    while active.size:  # A_k ~ Bernoulli(num/(den·k))
        if den <= _INT64_MAX // k:
            a = _uniform(den * k, active.size, rng) < num[active]
        else:  # the same, as Bernoulli(num/den) AND Bernoulli(1/k)
            a = (_uniform(den, active.size, rng) < num[active]) & (
                _uniform(k, active.size, rng) == 0
            )
        out[active[~a]] = k % 2 == 1
        active = active[a]
        k += 1
    return out


def _run_of_exp_minus_one(n: int, rng: np.random.Generator, block: int = _BLOCK) -> np.ndarray:
    """Per entry, the number of Bernoulli(exp(−1)) successes before the first failure.

    Drawn `block` Bernoullis at a time (fewer numpy calls; unread ones are discarded).
    """
    runs = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    while active.size:
        b = _bernoulli_exp_minus_one(active.size * block, rng).reshape(-1, block)
        full = b.all(axis=1)
        runs[active] += np.where(full, block, np.argmin(b, axis=1))
        active = active[full]
    return runs


def _bernoulli_exp_minus_one(n: int, rng: np.random.Generator) -> np.ndarray:
    """Algorithm 1 at γ = 1: A_1 = 1 surely, then A_k ~ Bernoulli(1/k)."""
    out = np.zeros(n, dtype=bool)  # stopped at K = 2, even: 0
    active, k = np.flatnonzero(_uniform(2, n, rng) == 0), 3
    while active.size:
        a = _uniform(k, active.size, rng) == 0
        out[active[~a]] = k % 2 == 1
        active = active[a]
        k += 1
    return out


def _uniform(high: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n exact uniform integers in [0, high): `rng.integers`, in bytes when they fit (faster)."""
    return rng.integers(0, high, n, dtype=np.uint8 if high <= 256 else np.int64)


def sample_discrete_laplace(t: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """int64 samples with P[x] ∝ exp(−|x|/t) (CKS20 Algorithm 2), integers only.

    Added to a count of sensitivity 1 it is (1/t)-DP (pure): the geometric
    mechanism of Ghosh, Roughgarden & Sundararajan (2009).
    """
    if t < 1:
        raise ValueError(f"the scale t must be a positive integer, got {t}")
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        proposals = 2 * (size - filled) + 16
        y, ok = _discrete_laplace(t, proposals, rng)
        kept = y[ok][: size - filled]
        out[filled : filled + kept.size] = kept
        filled += kept.size
    return out
