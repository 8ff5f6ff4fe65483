"""Activation functions by name, including a learnable rational (Pade) activation."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from torch import nn

from zeroad.errors import InputError

_BUILTIN = {
    "elu": nn.ELU, "selu": nn.SELU, "celu": nn.CELU, "gelu": nn.GELU, "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU, "mish": nn.Mish, "softplus": nn.Softplus,
    "softsign": nn.Softsign, "tanh": nn.Tanh, "tanhshrink": nn.Tanhshrink,
    "logsigmoid": nn.LogSigmoid, "sigmoid": nn.Sigmoid,
}
BUILTIN_ACTIVATIONS = tuple(_BUILTIN)  # what a rational activation can start as
ACTIVATIONS = (*BUILTIN_ACTIVATIONS, "rational")

# Degrees of P and Q: deg P = deg Q + 1 makes the tails asymptotically linear, so
# the activation neither explodes nor flattens far from zero (the instability the
# source saw with higher-degree numerators).
P_DEGREE, Q_DEGREE = 5, 4
FIT_RANGE = 3.0


def make_activation(name: str, rational_init: str = "elu") -> nn.Module:
    """A fresh activation module; ``rational`` is initialised to approximate ``rational_init``."""
    if name == "rational":
        return Rational(rational_init)
    try:
        return _BUILTIN[name]()
    except KeyError:
        raise InputError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}") from None


class Rational(nn.Module):
    """Learnable rational activation P(x) / Q(x), Q(x) = 1 + |b1 x + ... + bn x^n|.

    (Molina et al., "Pade Activation Units", arXiv 1907.06732.) Q >= 1, so the
    division is always safe. Coefficients start from a least-squares fit of the
    named activation on [-3, 3] and train with the network; detectors give them
    a lower learning rate (see ``RATIONAL_LR_FACTOR`` in the training loop).
    """

    def __init__(self, init: str = "elu"):
        super().__init__()
        numerator, denominator = fit_rational(init)
        self.numerator = nn.Parameter(torch.tensor(numerator, dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor(denominator, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Beyond the fitted range, continue along the boundary tangents (finite
        # differences): a stable linear tail wherever the rational would drift.
        c, h = FIT_RANGE, 1e-2
        edges = torch.tensor([-c, -c + h, c - h, c], dtype=x.dtype, device=x.device)
        at_edges = self._ratio(edges)
        slope_low = (at_edges[1] - at_edges[0]) / h
        slope_high = (at_edges[3] - at_edges[2]) / h
        inside = torch.clamp(x, -c, c)
        return (self._ratio(inside) + slope_high * torch.relu(x - c)
                - slope_low * torch.relu(-c - x))

    def _ratio(self, x: torch.Tensor) -> torch.Tensor:
        # Horner's rule: P has coefficients a0..a5, Q's polynomial part b1..b4.
        p = self.numerator[-1]
        for coefficient in self.numerator.flip(0)[1:]:
            p = p * x + coefficient
        q = self.denominator[-1]
        for coefficient in self.denominator.flip(0)[1:]:
            q = q * x + coefficient
        return p / (1.0 + torch.abs(q * x))


@cache
def fit_rational(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Least-squares rational approximation of activation ``name`` on [-3, 3].

    Solves the linearised problem P(x) - f(x) (1 + B(x)) = 0 (B = b1 x + ...),
    valid where 1 + B(x) > 0, then refines the exact |.| form with a few
    hundred Adam steps.
    """
    x = np.linspace(-FIT_RANGE, FIT_RANGE, 2001)
    with torch.no_grad():
        f = make_activation(name)(torch.tensor(x, dtype=torch.float64)).numpy()
    design = np.hstack([x[:, None] ** np.arange(P_DEGREE + 1),
                        -f[:, None] * x[:, None] ** np.arange(1, Q_DEGREE + 1)])
    solution, *_ = np.linalg.lstsq(design, f, rcond=None)
    a = torch.tensor(solution[:P_DEGREE + 1], requires_grad=True)
    b = torch.tensor(solution[P_DEGREE + 1:], requires_grad=True)  # b1..bn
    xt, ft = torch.tensor(x), torch.tensor(f)
    optimiser = torch.optim.Adam([a, b], lr=1e-3)
    powers_p = xt[:, None] ** torch.arange(P_DEGREE + 1)
    powers_q = xt[:, None] ** torch.arange(Q_DEGREE)  # b_k x^k = x * (b_k x^(k-1))
    with torch.enable_grad():  # also when a Rational is built under no_grad
        for _ in range(300):
            optimiser.zero_grad()
            approx = (powers_p @ a) / (1 + torch.abs(xt * (powers_q @ b)))
            loss = torch.mean((approx - ft) ** 2)
            loss.backward()
            optimiser.step()
    return tuple(a.detach().tolist()), tuple(b.detach().tolist())
