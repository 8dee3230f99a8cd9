"""The pieces of AIM checked by hand: factors, junction trees, belief propagation,
Private-PGM, sampling and the discretisation of numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from generators.aim.discretise import _quantile_cuts, _tree_histogram
from generators.aim.estimation import GraphicalModel, NoisyMarginal, calibrate, mirror_descent
from generators.aim.factor import contract, expand, joint_counts, logsumexp_to, sum_to
from generators.aim.junction_tree import junction_tree, model_size
from generators.aim.sampling import sample_codes
from generators.privacy.mechanisms import Bounds


def test_factor_operations_by_hand() -> None:
    t = np.arange(6.0).reshape(2, 3)  # attrs (0, 2)
    assert sum_to(t, (0, 2), (2,)).tolist() == [3.0, 5.0, 7.0]
    assert expand(np.array([1.0, 2.0]), (0,), (0, 1, 2)).shape == (2, 1, 1)
    np.testing.assert_allclose(logsumexp_to(np.log(t + 1), (0, 2), (0,)), np.log([6.0, 15.0]))
    # Σ_b A[a,b] B[b,c] over attrs a=0, b=1, c=2 is a matrix product.
    a, b = np.arange(4.0).reshape(2, 2), np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(contract([(a, (0, 1)), (b, (1, 2))], (0, 2)), a @ b)
    codes = np.array([[0, 1], [0, 1], [1, 0]])
    assert joint_counts(codes, (0, 1), [2, 2]).tolist() == [[0.0, 2.0], [1.0, 0.0]]


def test_junction_tree_of_a_cycle_is_triangulated() -> None:
    # A 4-cycle 0-1-2-3-0 needs one chord: two cliques of three.
    tree = junction_tree(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [2, 2, 2, 2])
    assert sorted(len(c) for c in tree.cliques) == [3, 3]
    assert len(tree.separator[tree.order[1]]) == 2
    assert model_size(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [2, 2, 2, 2]) == 16


def test_junction_tree_keeps_isolated_attributes() -> None:
    tree = junction_tree(3, [(0, 1)], [2, 3, 4])
    assert sorted(tree.cliques) == [(0, 1), (2,)]
    assert tree.separator[tree.order[1]] == ()


def _random_tree_model(
    rng: np.random.Generator,
) -> tuple[list[int], list[tuple[int, ...]], np.ndarray]:
    """A joint over 4 attributes that factorises on cliques (0,1), (1,2), (2,3) + isolated none."""
    sizes = [2, 3, 2, 3]
    cliques: list[tuple[int, ...]] = [(0, 1), (1, 2), (2, 3)]
    logp = np.zeros(sizes)
    for c in cliques:
        logp = logp + expand(rng.normal(size=[sizes[a] for a in c]), c, (0, 1, 2, 3))
    p = np.exp(logp)
    return sizes, cliques, p / p.sum()


def test_calibrate_gives_the_exact_marginals() -> None:
    rng = np.random.default_rng(0)
    sizes, cliques, _ = _random_tree_model(rng)
    tree = junction_tree(4, cliques, sizes)
    pots = [rng.normal(size=[sizes[a] for a in c]) for c in tree.cliques]
    joint = np.zeros(sizes)
    for c, p in zip(tree.cliques, pots, strict=True):
        joint = joint + expand(p, c, (0, 1, 2, 3))
    joint = np.exp(joint)
    joint = 100 * joint / joint.sum()
    mus = calibrate(tree, sizes, pots, 100.0)
    for c, mu in zip(tree.cliques, mus, strict=True):
        np.testing.assert_allclose(mu, sum_to(joint, (0, 1, 2, 3), c), rtol=1e-9)


def test_private_pgm_recovers_a_tree_distribution_from_exact_marginals() -> None:
    rng = np.random.default_rng(1)
    sizes, cliques, p = _random_tree_model(rng)
    n = 1000.0
    joint = n * p
    ms = [NoisyMarginal(c, sum_to(joint, (0, 1, 2, 3), c), 1.0) for c in cliques]
    fit = mirror_descent(sizes, ms, n, iters=1500)
    for a, b in itertools.combinations(range(4), 2):
        np.testing.assert_allclose(
            fit.model.project((a, b)), sum_to(joint, (0, 1, 2, 3), (a, b)), atol=0.5
        )


def test_pair_marginal_across_cliques_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    sizes, cliques, p = _random_tree_model(rng)
    tree = junction_tree(4, cliques, sizes)
    mus = [sum_to(p, (0, 1, 2, 3), c) for c in tree.cliques]
    model = GraphicalModel(sizes, tree, mus, 1.0)
    np.testing.assert_allclose(model.project((0, 3)), sum_to(p, (0, 1, 2, 3), (0, 3)), rtol=1e-9)


def test_sampling_follows_the_model() -> None:
    rng = np.random.default_rng(3)
    sizes, cliques, p = _random_tree_model(rng)
    tree = junction_tree(4, cliques, sizes)
    model = GraphicalModel(sizes, tree, [sum_to(p, (0, 1, 2, 3), c) for c in tree.cliques], 1.0)
    n = 200_000
    codes = sample_codes(model, n, np.random.default_rng(4))
    freq = joint_counts(codes, (0, 1, 2, 3), sizes) / n
    # Each cell's frequency within 5 standard errors of its probability.
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_quantile_cuts_isolate_a_spike() -> None:
    p = np.array([90.0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    cuts = _quantile_cuts(p, 4)
    assert cuts[:2] == (0, 1)
    assert cuts[-1] == len(p) and len(cuts) - 1 <= 4


def test_tree_histogram_resolves_an_integer_spike() -> None:
    rng = np.random.default_rng(5)
    v = np.concatenate([np.zeros(9000), rng.integers(1, 100_000, 1000)]).astype(float)
    edges, mass = _tree_histogram(v, Bounds(0, 99_999), True, 1.0, rng, 64)
    assert np.all(np.diff(edges) > 0)
    zero = int(np.searchsorted(edges, 0.0, side="right") - 1)
    assert edges[zero + 1] - edges[zero] == pytest.approx(1.0)
    assert mass[zero] / mass.sum() > 0.85


def test_a_refit_goes_on_while_the_new_marginal_still_moves() -> None:
    """AIM's σ-halving test reads how far a refit moves the new marginal: the refit must settle."""
    rng = np.random.default_rng(5)
    sizes, cliques, p = _random_tree_model(rng)
    n = 1000.0
    joint = n * p
    oneways = [NoisyMarginal((a,), sum_to(joint, (0, 1, 2, 3), (a,)), 1.0) for a in range(4)]
    start = mirror_descent(sizes, oneways, n, iters=300)
    new = cliques[0]
    ms = [*oneways, NoisyMarginal(new, sum_to(joint, (0, 1, 2, 3), new), 1.0)]
    short = mirror_descent(sizes, ms, n, iters=10, warm=start.potentials)
    steps: list[int] = []
    settled = mirror_descent(
        sizes,
        ms,
        n,
        iters=10,
        warm=start.potentials,
        watch=new,
        max_iters=5000,
        settle=0.01,
        check=steps.append,
    )
    truth = sum_to(joint, (0, 1, 2, 3), new)
    err_short = np.abs(short.model.project(new) - truth).sum()
    err_settled = np.abs(settled.model.project(new) - truth).sum()
    assert err_settled < 0.5 * err_short
    # It stopped because the marginal settled, not at the cap.
    assert 10 < steps[-1] < 5000 - 25


def test_a_refit_without_watch_runs_exactly_iters() -> None:
    rng = np.random.default_rng(6)
    sizes, cliques, p = _random_tree_model(rng)
    ms = [NoisyMarginal(c, sum_to(1000.0 * p, (0, 1, 2, 3), c), 1.0) for c in cliques]
    steps: list[int] = []
    mirror_descent(sizes, ms, 1000.0, iters=60, max_iters=1000, check=steps.append)
    assert steps == [0, 25, 50]
