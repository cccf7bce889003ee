"""L-BFGS with one history, one line search and one stop per pair, all pairs evaluated in one batch.

``torch.optim.LBFGS`` treats a batch of paths as one problem: one line search for all pairs, so every pair
takes the step length that suits the sum, and all run until the slowest converges (issue 19 measured a
batch of 8 MNIST pairs at 24 minutes, 0 of 16 paths converged). Here each pair is its own problem that
happens to share the model passes: each evaluation sends the trial points of every still-active pair
through the model at once, and each pair reads its own energy and gradient, advances its own line search
and stops on its own rule. A pair's iterates therefore do not depend on the other pairs of its batch (up to
floating-point summation order).

The line search is backtracking on the Armijo condition, with a safeguarded quadratic step, starting from
the unit step of the quasi-Newton direction (which L-BFGS takes almost always once its history holds a
few pairs). A curvature pair with ``s^T y <= 0`` (a kink of the ReLU networks, or a step past a minimum
along a concave stretch) is not stored, so the inverse-Hessian model stays positive definite.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..paths import DeadlineReached

ARMIJO = 1e-4
"""Sufficient decrease: accept a step ``t`` when ``f(y + t d) <= f(y) + ARMIJO * t * g^T d``."""
MAX_BACKTRACKS = 12
"""Backtracks before a pair gives up the direction and restarts from steepest descent."""


@dataclass
class BatchState:
    """Per-pair iterates of :func:`lbfgs_batch`.

    Attributes:
        y: ``(B, n)`` current points (flattened per pair); f: ``(B,)`` their values; g: ``(B, n)`` gradients.
        evals: ``(B,)`` evaluations spent on each pair; active: ``(B,)`` pairs still running.
    """

    y: Tensor
    f: Tensor
    g: Tensor
    evals: Tensor
    active: Tensor


FG = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
"""``fg(y, idx)``: values ``(A,)`` and gradients ``(A, n)`` of the pairs ``idx`` ``(A,)`` at points ``y`` ``(A, n)``."""
Check = Callable[[BatchState, Tensor], Tensor]
"""``check(state, idx)``: called after each accepted step of the pairs ``idx``; returns ``(A,)`` True where a pair
stops."""


def two_loop(g: Tensor, s: Tensor, y: Tensor, rho: Tensor, gamma0: Tensor) -> Tensor:
    """``H g`` with the L-BFGS inverse-Hessian model of each pair, oldest history entry first.

    Empty slots hold ``rho = 0`` and cost nothing; ``H_0 = gamma I`` with ``gamma = s^T y / y^T y`` of the
    newest entry (``gamma0`` ``(A,)`` without history).

    Shape:
        - g: ``(A, n)``; s, y: ``(A, H, n)``; rho: ``(A, H)``
        - output: ``(A, n)``
    """
    q = g.clone()
    h = s.shape[1]
    alpha = torch.zeros_like(rho)
    for i in range(h - 1, -1, -1):
        alpha[:, i] = rho[:, i] * (s[:, i] * q).sum(1)
        q -= alpha[:, i, None] * y[:, i]
    yy = (y[:, -1] * y[:, -1]).sum(1)
    sy = (s[:, -1] * y[:, -1]).sum(1)
    gamma = torch.where(rho[:, -1] > 0, sy / yy.clamp_min(torch.finfo(yy.dtype).tiny), gamma0)
    r = q * gamma[:, None]
    for i in range(h):
        beta = rho[:, i] * (y[:, i] * r).sum(1)
        r += s[:, i] * (alpha[:, i] - beta)[:, None]
    return r


def lbfgs_batch(fg: FG, y0: Tensor, *, max_evals: int, check: Check, history: int = 20,
                first_step: float = 1.0, h0: float | None = None, deadline: float | None = None,
                on_eval: Callable[[BatchState, Tensor], None] | None = None) -> BatchState:
    """Minimise ``B`` independent functions from ``y0`` ``(B, n)``, each with its own L-BFGS.

    Args:
        fg: values and gradients of a subset of pairs (see :data:`FG`); one call is one evaluation of each.
        y0: starting points ``(B, n)``.
        max_evals: most evaluations per pair.
        check: the stopping rule, asked after every accepted step (see :data:`Check`).
        history: curvature pairs kept per pair.
        first_step: length of the first steepest-descent step, relative to ``1 / |g|_inf`` (so that the
            largest coordinate moves by at most ``first_step`` in ``y``'s units), when ``h0`` is not given.
        h0: a known scale of the inverse Hessian (e.g. ``1 / (2 N)`` in coordinates where the path energy's
            model Hessian is ``2 N I``): the first direction is then ``-h0 g``, a Newton step of that model.
        deadline: a ``time.perf_counter()`` value: every pair stops after the first evaluation past it.
        on_eval: called after each evaluation with the state and the pairs just evaluated (progress).

    Returns:
        The final state; ``y`` holds each pair's best point (the last accepted one).
    """
    b, n = y0.shape
    dev, dt = y0.device, y0.dtype
    all_idx = torch.arange(b, device=dev)
    f, g = fg(y0, all_idx)
    state = BatchState(y=y0.clone(), f=f.clone(), g=g.clone(), evals=torch.ones(b, dtype=torch.long, device=dev),
                       active=torch.ones(b, dtype=torch.bool, device=dev))
    if on_eval is not None:
        on_eval(state, all_idx)
    s_hist = torch.zeros(b, history, n, dtype=dt, device=dev)
    y_hist = torch.zeros(b, history, n, dtype=dt, device=dev)
    rho = torch.zeros(b, history, dtype=dt, device=dev)

    def scale0(grad: Tensor) -> Tensor:  # the inverse-Hessian scale without history, (A,)
        if h0 is not None:
            return torch.full_like(grad[:, 0], h0)
        return first_step / grad.abs().amax(1).clamp_min(torch.finfo(dt).tiny)

    def descent(grad: Tensor) -> Tensor:
        return -grad * scale0(grad)[:, None]

    d = descent(g)
    t = torch.ones(b, dtype=dt, device=dev)
    backtracks = torch.zeros(b, dtype=torch.long, device=dev)
    state.active &= state.evals < max_evals
    while bool(state.active.any()):
        idx = all_idx[state.active]
        gtd = (state.g[idx] * d[idx]).sum(1)
        bad = gtd >= 0  # not a descent direction (numerical trouble): restart from steepest descent
        if bool(bad.any()):
            k = idx[bad]
            _forget(k, s_hist, y_hist, rho)
            d[k] = descent(state.g[k])
            t[k] = 1.0
            gtd = (state.g[idx] * d[idx]).sum(1)
        trial = state.y[idx] + t[idx, None] * d[idx]
        try:
            f_new, g_new = fg(trial, idx)
        except DeadlineReached:  # the evaluation would end past the problem's deadline: keep the last accepted
            break
        state.evals[idx] += 1
        if on_eval is not None:
            on_eval(state, idx)
        ok = (f_new <= state.f[idx] + ARMIJO * t[idx] * gtd) & torch.isfinite(f_new)
        # rejected: backtrack by a safeguarded quadratic fit, or give up the direction
        rej = idx[~ok]
        if rej.numel():
            t_r, gtd_r = t[rej], gtd[~ok]
            rise = torch.nan_to_num(f_new[~ok] - state.f[rej] - gtd_r * t_r, nan=float("inf"), posinf=float("inf"))
            quad = -gtd_r * t_r.square() / (2 * rise.clamp_min(torch.finfo(dt).tiny))
            t[rej] = torch.minimum(torch.maximum(quad, 0.1 * t_r), 0.5 * t_r)
            backtracks[rej] += 1
            lost = rej[backtracks[rej] > MAX_BACKTRACKS]
            if lost.numel():
                _forget(lost, s_hist, y_hist, rho)
                d[lost] = descent(state.g[lost])
                t[lost] = 1.0
                backtracks[lost] = 0
        acc = idx[ok]
        if acc.numel():
            step = trial[ok] - state.y[acc]
            dg = g_new[ok] - state.g[acc]
            sy = (step * dg).sum(1)
            good = sy > 1e-10 * (step.norm(dim=1) * dg.norm(dim=1)).clamp_min(torch.finfo(dt).tiny)
            upd = acc[good]
            if upd.numel():
                s_hist[upd] = torch.cat([s_hist[upd, 1:], step[good, None]], 1)
                y_hist[upd] = torch.cat([y_hist[upd, 1:], dg[good, None]], 1)
                rho[upd] = torch.cat([rho[upd, 1:], (1 / sy[good])[:, None]], 1)
            state.y[acc], state.f[acc], state.g[acc] = trial[ok], f_new[ok], g_new[ok]
            backtracks[acc] = 0
            t[acc] = 1.0
            d[acc] = -two_loop(state.g[acc], s_hist[acc], y_hist[acc], rho[acc], scale0(state.g[acc]))
            stop = check(state, acc)
            state.active[acc[stop]] = False
        state.active &= state.evals < max_evals
        if deadline is not None and time.perf_counter() > deadline:
            break
    return state


def _forget(k: Tensor, s_hist: Tensor, y_hist: Tensor, rho: Tensor) -> None:
    s_hist[k] = 0
    y_hist[k] = 0
    rho[k] = 0
