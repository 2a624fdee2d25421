"""Rates along training against closed forms: a linear model under squared loss is its own linearisation."""

import numpy as np
import pytest

from lplr import rates


def linear_model_gd(n=12, d=40, steps=300, eta=0.5, seed=0):
    """f(x) = w.x, L = |Xw - y|^2 / 2n, GD on w from 0: r_t = (I - eta K/n)^t r_0 with K = X X^T (the NTK)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    y = rng.choice([-1.0, 1.0], n)
    kernel = x @ x.T
    eta = eta * n / np.linalg.eigvalsh(kernel)[-1]  # eta lambda_max / n = 0.5: stable, no edge of stability
    w, losses, grads = np.zeros(d), [], []
    for _ in range(steps + 1):
        r = x @ w - y
        g = x.T @ r / n
        losses.append(r @ r / (2 * n))
        grads.append(g @ g)
        w -= eta * g
    evals, evecs = np.linalg.eigh(kernel)
    projections = (evecs.T @ (x @ np.zeros(d) - y)) ** 2  # at t = 0
    return np.array(losses), np.array(grads), evals, projections, eta


def test_linearised_loss_is_exact_for_a_linear_model():
    loss, _, evals, projections, eta = linear_model_gd()
    steps = np.arange(len(loss))
    predicted = np.exp(rates.linearised_log_loss(evals, projections, eta, steps))
    assert predicted == pytest.approx(loss, rel=1e-9)


def test_observed_rate_equals_the_linearised_rate_and_slows_as_fast_directions_are_spent():
    loss, _, evals, projections, eta = linear_model_gd()
    steps = np.arange(len(loss))
    span = 2
    observed = rates.observed_rate(steps, loss, span)
    # over [t-1, t+1] the observed rate is the mean of the model's rates at t-1 and t
    model = rates.linearised_rate(evals, projections, eta, steps)
    expected = (model[:-2] + model[1:-1]) / 2  # at t = 1 .. T-1
    resolved = loss[2:] > 1e-20 * loss[0]  # past that, float64 round-off of L itself dominates
    assert observed[1:-1][resolved] == pytest.approx(expected[resolved], rel=1e-6)
    assert resolved.sum() > 50
    assert np.isnan(observed[0]) and np.isnan(observed[-1])
    # the rate falls monotonically from -log(sum p f / sum p) towards the slowest direction's -log f_min
    assert np.all(np.diff(model) <= 1e-12)
    f = (1 - eta * evals / len(evals)) ** 2
    assert model[0] == pytest.approx(-np.log((projections * f).sum() / projections.sum()))
    slowest = -np.log(f[projections > 1e-20].max())
    assert model[-1] == pytest.approx(slowest, rel=1e-3)


def test_first_order_rate_is_bounded_below_by_the_pl_bound_and_agrees_to_first_order():
    loss, grads, evals, projections, eta = linear_model_gd(steps=50)
    first = rates.first_order_rate(loss, grads, eta)
    mu = evals[0] / len(evals)
    assert np.all(first >= rates.pl_bound_rate(mu, eta) * (1 - 1e-12))  # G >= 2 mu L
    # on a quadratic, L_{t+1} = L_t - eta G_t + eta^2 r^T K^2 r / 2n^3 exactly: the first-order rate misses the last term
    n = len(evals)
    second = eta ** 2 * (projections * evals ** 2).sum() / (2 * n ** 3 * loss[0])
    observed = -np.diff(np.log(loss))
    assert observed[0] == pytest.approx(-np.log(1 - first[0] + second), rel=1e-10)
    assert abs(observed[0] - first[0]) > 1e-3 * first[0]  # and the difference is not negligible at this step


def test_spectral_shares_and_segment_rate():
    evals = np.array([1.0, 2.0, 3.0, 4.0])
    shares = rates.spectral_shares(evals, np.array([1.0, 1.0, 0.0, 2.0]), top_k=1)
    assert shares == {"share_top_k": 0.5, "share_bottom_half": 0.5}
    steps = np.arange(101)
    loss = np.exp(-0.03 * steps)
    assert rates.segment_rate(steps, loss, 0.25, 0.5) == pytest.approx(0.03)
    assert rates.segment_rate(steps, loss, 0.75, 1.0) == pytest.approx(0.03)
    assert np.isnan(rates.segment_rate(steps, np.zeros(101), 0.0, 1.0))


def test_entry_step_is_the_first_step_after_which_the_rate_stays_near_the_late_rate():
    steps = np.arange(100.0)
    observed = np.where(steps < 30, 5.0, 1.0)
    observed[60] = 1.6  # one excursion beyond 1.5x moves the entry past it
    assert rates.entry_step(steps, observed, 1.0, 1.5) == 61
    observed[60] = 1.4
    assert rates.entry_step(steps, observed, 1.0, 1.5) == 30
    assert np.isnan(rates.entry_step(steps, np.full(100, 5.0), 1.0, 1.5))  # never enters


def test_bound_ratios_use_the_smaller_mu_of_each_interval_and_keep_rising_intervals():
    ratios = rates.bound_ratios([1.0, -0.5], [10.0, 10.0], [0.2, 0.1, 0.3], eta=np.log(10) / 4)
    # bound of interval 0: 10 * 2 eta * 0.1 / ln 10 = 0.5 decades; interval 1 the same (min(0.1, 0.3))
    assert ratios == pytest.approx([2.0, -1.0])
    assert rates.segment_mean(np.arange(10.0), np.arange(10.0), 0.0, 0.5) == pytest.approx(2.0)  # steps 0..4
