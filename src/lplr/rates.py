"""Rates along training: what the loss does step by step, against what the kernel predicts.

All rates are per step, in natural-log units of the loss with L* = 0 (no estimated floor), so none of
them depends on an L* estimator:

    observed          c_t = -(log L_{t+h} - log L_{t-h}) / 2h, the mean per-step decrease of log L over
                      a span s = 2h centred on t (log L interpolated between evaluated steps under SGD)
    first order       eta G_t / L_t: L_{t+1} = L_t - eta G_t + O(eta^2), so -log(L_{t+1}/L_t) = eta G_t/L_t
                      to first order; observed / first order departs from 1 by second-order effects
                      (curvature along the step, e.g. at the edge of stability)
    PL bound          2 eta mu_t with mu_t = lambda_min(Theta_t)/n: G >= 2 mu L, so the first-order rate
                      is at least 2 eta mu_t (the lambda_min bound of the paper, to first order)
    local linearised  from the probe at t_k, r_{t} = (I - eta Theta_k/n)^(t - t_k) r_k on the probe set S:
                      L(t) = sum_i p_i f_i^(t - t_k) / 2|S| with p_i = (u_i . r_k)^2 and f_i = (1 - eta lambda_i/|S|)^2,
                      so the predicted rate -log(L(t+1)/L(t)) starts at -log(sum p f / sum p) and slows as
                      the fast directions (large lambda_i) are spent

Statistics of the claims (lplr.analysis.claim_statistics), all with L* = 0:

    kernel slowdown   the late/early rate ratio the local linearised models predict over the same segments:
                      the mean of the local linearised rate over each segment's steps
    entry step        the first step after which the observed rate stays within a factor f of the late rate
                      (the start of the linear regime, f fixed in config)
    PL bound, per interval  observed decay over [t_k, t_{k+1}] against (t_{k+1} - t_k) 2 eta min(mu_k, mu_{k+1}):
                      every interval counts (a rising loss gives a negative ratio)

Where the residual sits in the spectrum, at each probe: the share of ||r||^2 = sum_i p_i on the top-k
eigen-directions and on the bottom half of the spectrum.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def observed_rate(steps: np.ndarray, loss: np.ndarray, span: int) -> np.ndarray:
    """c_t = -(log L(t + s/2) - log L(t - s/2)) / s at each of `steps` (NaN where the span leaves the run or L <= 0)."""
    steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    ok = np.isfinite(loss) & (loss > 0)
    if ok.sum() < 2:
        return np.full(len(steps), np.nan)
    log_loss = np.log(loss[ok])
    half = span / 2
    inside = (steps - half >= steps[ok][0]) & (steps + half <= steps[ok][-1])
    ahead = np.interp(steps + half, steps[ok], log_loss)
    behind = np.interp(steps - half, steps[ok], log_loss)
    return np.where(inside, (behind - ahead) / span, np.nan)


def first_order_rate(loss: np.ndarray, grad_norm_sq: np.ndarray, eta: float) -> np.ndarray:
    """eta G_t / L_t (NaN where L_t <= 0)."""
    loss, grad = np.asarray(loss, dtype=float), np.asarray(grad_norm_sq, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(loss > 0, eta * grad / loss, np.nan)


def pl_bound_rate(mu: np.ndarray, eta: float) -> np.ndarray:
    """2 eta mu_t, the first-order rate the PL inequality G >= 2 mu L guarantees."""
    return 2 * eta * np.asarray(mu, dtype=float)


def linearised_log_loss(eigenvalues: np.ndarray, projections: np.ndarray, eta: float, elapsed: np.ndarray) -> np.ndarray:
    """log of the linearised loss sum_i p_i f_i^tau / 2|S| after `elapsed` = tau steps from the probe.

    Computed as a log-sum-exp so that 5000 steps of factors near 0 or 1 neither underflow nor overflow.
    """
    eigenvalues, projections = np.asarray(eigenvalues, dtype=float), np.asarray(projections, dtype=float)
    n = len(eigenvalues)
    with np.errstate(divide="ignore"):
        log_f = np.log((1.0 - eta * eigenvalues / n) ** 2)
        log_p = np.log(projections)
    tau = np.asarray(elapsed, dtype=float)
    return logsumexp(log_p[None, :] + tau[:, None] * log_f[None, :], axis=1) - np.log(2 * n)


def linearised_rate(eigenvalues: np.ndarray, projections: np.ndarray, eta: float, elapsed: np.ndarray) -> np.ndarray:
    """The local linearised model's rate -log(L(tau + 1) / L(tau)) at `elapsed` = tau steps after the probe."""
    tau = np.asarray(elapsed, dtype=float)
    return (linearised_log_loss(eigenvalues, projections, eta, tau)
            - linearised_log_loss(eigenvalues, projections, eta, tau + 1))


def spectral_shares(eigenvalues: np.ndarray, projections: np.ndarray, top_k: int) -> dict:
    """Share of ||r||^2 on the top_k largest-eigenvalue directions and on the bottom half of the spectrum."""
    order = np.argsort(eigenvalues)  # ascending, as eigh returns them
    p = np.asarray(projections, dtype=float)[order]
    total = p.sum()
    if not total > 0:
        return {"share_top_k": np.nan, "share_bottom_half": np.nan}
    return {"share_top_k": float(p[-top_k:].sum() / total), "share_bottom_half": float(p[: len(p) // 2].sum() / total)}


def segment_rate(steps: np.ndarray, loss: np.ndarray, start: float, end: float) -> float:
    """The mean per-step decrease of log L between fractions `start` and `end` of the run: (log L_a - log L_b)/(b - a).

    Exact: the average of the per-step rates over [a, b], with no smoothing and no fit.
    """
    steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    ok = np.isfinite(loss) & (loss > 0)
    if ok.sum() < 2:
        return np.nan
    first, last = steps[ok][0], steps[ok][-1]
    a, b = first + start * (last - first), first + end * (last - first)
    if b <= a:
        return np.nan
    log_loss = np.log(loss[ok])
    return float((np.interp(a, steps[ok], log_loss) - np.interp(b, steps[ok], log_loss)) / (b - a))


def linearised_loss(eigenvalues0: np.ndarray, projections0: np.ndarray, lr: float, steps: np.ndarray) -> np.ndarray:
    """L_lin(t) = (1/2n) sum_i (1 - eta lambda_i / n)^(2t) (u_i . r_0)^2, the initial-NTK prediction."""
    n = len(eigenvalues0)
    factors = (1.0 - lr * eigenvalues0 / n) ** 2
    return (projections0[None, :] * factors[None, :] ** steps[:, None]).sum(axis=1) / (2 * n)


def segment_mean(steps: np.ndarray, values: np.ndarray, start: float, end: float) -> float:
    """The mean of a per-step quantity over the steps in [a, b), the fractions `start`, `end` of the run."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    a, b = steps[0] + start * (steps[-1] - steps[0]), steps[0] + end * (steps[-1] - steps[0])
    inside = (steps >= a) & (steps < b) & np.isfinite(values)
    return float(values[inside].mean()) if inside.any() else np.nan


def entry_step(steps: np.ndarray, observed: np.ndarray, late_rate: float, factor: float) -> float:
    """The first step after which every finite observed rate lies in [late / factor, late * factor] (NaN if none)."""
    steps, observed = np.asarray(steps, dtype=float), np.asarray(observed, dtype=float)
    ok = np.isfinite(observed)
    if not (np.isfinite(late_rate) and late_rate > 0) or not ok.any():
        return np.nan
    outside = ok & ((observed < late_rate / factor) | (observed > late_rate * factor))
    if not outside.any():
        return float(steps[ok][0])
    after = steps[ok & (steps > steps[outside][-1])]
    return float(after[0]) if len(after) else np.nan


def bound_ratios(observed_decay, elapsed, mu, eta: float) -> np.ndarray:
    """Per probe interval k: observed decay (decades) / the PL bound's (elapsed 2 eta min(mu_k, mu_{k+1}) / ln 10).

    `mu` has one more entry than the intervals (one per probe). Rising intervals give negative ratios."""
    mu = np.asarray(mu, dtype=float)
    bound = np.asarray(elapsed, dtype=float) * 2 * eta * np.minimum(mu[:-1], mu[1:]) / np.log(10.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(observed_decay, dtype=float) / bound
