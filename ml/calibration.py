"""Temperature scaling (Guo et al. 2017): one scalar that makes softmax probabilities honest."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the NLL of ``softmax(logits / T)`` on held-out data."""
    if len(logits) == 0:
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter)
    # clone(): the logits may come from inference mode, which autograd refuses to record.
    logits, targets = logits.detach().float().clone(), targets.detach().long().clone()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    # Guard against a degenerate fit on tiny or perfectly separated sets.
    return min(max(t, 0.05), 20.0)


def choose_threshold(y_true: torch.Tensor, p_pos: torch.Tensor) -> float:
    """The threshold on p(ai_generated) that maximises balanced accuracy on validation data."""
    y = y_true.long()
    if len(y) == 0 or y.min() == y.max():
        return 0.5
    best_t, best_score = 0.5, -1.0
    for t in torch.unique(torch.cat([p_pos, torch.tensor([0.5])])).tolist():
        pred = (p_pos >= t).long()
        tpr = ((pred == 1) & (y == 1)).sum().item() / max(1, (y == 1).sum().item())
        tnr = ((pred == 0) & (y == 0)).sum().item() / max(1, (y == 0).sum().item())
        score = (tpr + tnr) / 2
        if score > best_score + 1e-12 or (abs(score - best_score) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best_t, best_score = t, score
    return float(best_t)


def fit_rule_temperature(margins: list[np.ndarray], targets: np.ndarray, rule: str,
                         bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the NLL of the *served* image probability: each image's tile
    margins (``logit(ai) - logit(real)``) aggregated with ``rule`` (:mod:`ml.tiling`) at that
    temperature. With one tile per image and any rule this is ordinary temperature scaling.

    A 1-D search over log T (grid, then golden section around the best grid point), because
    rules such as the mean of tile probabilities have no closed-form gradient in T worth writing."""
    from .tiling import aggregate

    y = np.asarray(targets, dtype=np.float64)
    if len(margins) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        p = np.array([aggregate(z, t, rule) for z in margins])
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    grid = np.linspace(lo, hi, 61)
    values = [nll(g) for g in grid]
    best = int(np.argmin(values))
    a, b = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
    golden = (math.sqrt(5) - 1) / 2
    c, d = b - golden * (b - a), a + golden * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - golden * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + golden * (b - a)
            fd = nll(d)
    return float(math.exp((a + b) / 2))
