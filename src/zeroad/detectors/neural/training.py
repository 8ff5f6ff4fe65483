"""The one training loop every neural detector uses, with EntropyStop.

A detector supplies ``batch_loss(network, x_batch) -> per-row losses`` and,
optionally, ``epoch_data(generator) -> (inputs, per-row loss weights)`` to
change the training rows every epoch (OCDNN draws fresh noise that way).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from zeroad.detectors.neural.activations import Rational
from zeroad.errors import DegenerateModelError, InputError

# Rational coefficients move the whole activation at once: they learn 10x slower.
RATIONAL_LR_FACTOR = 0.1
ENTROPY_SUBSET = 1024


@dataclass
class EntropyStop:
    """EntropyStop (Huang et al., KDD 2024): stop training without labels.

    At each step, the per-row training losses on a fixed evaluation subset are
    normalised to a distribution and its entropy H is recorded. A new entropy
    minimum is accepted when it drops below the last accepted one by more than
    ``r_down`` times the summed absolute entropy changes since then; training
    stops ``patience`` steps after the last accepted minimum, and the model of
    that minimum is kept.
    """

    patience: int = 10
    r_down: float = 0.01
    best_entropy: float = np.inf
    best_step: int = -1
    best_state: dict | None = None
    _previous: float | None = None
    _variation: float = 0.0
    entropies: list[float] = field(default_factory=list)

    @staticmethod
    def entropy(losses: torch.Tensor) -> float:
        losses = losses.clamp_min(0).double()
        total = losses.sum()
        if total <= 0:
            return 0.0
        p = losses / total
        return float(-(p * torch.log(p.clamp_min(1e-300))).sum())

    def step(self, step: int, h: float, network: nn.Module) -> bool:
        """Record this step's loss entropy ``h``; True when training should stop."""
        self.entropies.append(h)
        if self._previous is not None:
            self._variation += abs(h - self._previous)
        self._previous = h
        if self.best_state is None or self.best_entropy - h > self.r_down * self._variation:
            self.best_entropy, self.best_step = h, step
            self.best_state = copy.deepcopy(network.state_dict())
            self._variation = 0.0
        return step - self.best_step >= self.patience


def train_network(network: nn.Module, X: torch.Tensor, *, batch_loss: Callable,
                  epochs: int, batch_size: int, learning_rate: float, weight_decay: float,
                  generator: torch.Generator, early_stopping: str = "none", patience: int = 10,
                  r_down: float = 0.01, epoch_data: Callable | None = None,
                  validation: Callable | None = None, weight_decay_mode: str = "decoupled",
                  train_rational: bool = True) -> dict:
    """Train ``network`` on rows ``X`` (float32) and return its history.

    Parameters
    ----------
    batch_loss : (network, inputs, weights) -> per-row loss tensor.
    epoch_data : generator -> (inputs, targets) for one epoch; default (X, None).
    validation : network -> float, called after each epoch (analysis only, e.g.
        AUC on labelled data); its values go to ``history["val_auc"]``.
    early_stopping : "none" (train all epochs) or "entropy" (EntropyStop).
    weight_decay_mode : "decoupled" (AdamW: the weights shrink apart from the gradient
        step) or "l2" (Adam with ``weight_decay`` times the weights added to the
        gradient, i.e. an L2 penalty that Adam's scaling then reweights).
    train_rational : False keeps rational activations at their initial coefficients.
    """
    if early_stopping not in ("none", "entropy"):
        raise InputError(f"early_stopping must be 'none' or 'entropy', got {early_stopping!r}")
    if weight_decay_mode not in ("decoupled", "l2"):
        raise InputError("weight_decay_mode must be 'decoupled' or 'l2', got "
                         f"{weight_decay_mode!r}")
    rational = [p for m in network.modules() if isinstance(m, Rational) for p in m.parameters()]
    rational_ids = {id(p) for p in rational}
    others = [p for p in network.parameters() if id(p) not in rational_ids]
    groups = [{"params": others}]
    if rational and train_rational:
        groups.append({"params": rational, "lr": learning_rate * RATIONAL_LR_FACTOR,
                       "weight_decay": 0.0})
    if not train_rational:
        for parameter in rational:
            parameter.requires_grad_(False)
    optimiser_class = torch.optim.AdamW if weight_decay_mode == "decoupled" else torch.optim.Adam
    optimiser = optimiser_class(groups, lr=learning_rate, weight_decay=weight_decay)
    stopper = EntropyStop(patience=patience, r_down=r_down) if early_stopping == "entropy" \
        else None
    subset = X[torch.randperm(X.shape[0], generator=generator)[:ENTROPY_SUBSET]]
    history: dict[str, list] = {"loss": [], "entropy": []}
    if validation is not None:
        history["val_auc"] = []
    for epoch in range(epochs):
        network.train()
        inputs, targets = epoch_data(generator) if epoch_data is not None else (X, None)
        order = torch.randperm(inputs.shape[0], generator=generator)
        total, count = 0.0, 0
        for start in range(0, inputs.shape[0], batch_size):
            index = order[start:start + batch_size]
            losses = batch_loss(network, inputs[index],
                                None if targets is None else targets[index])
            loss = losses.mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * index.numel()
            count += index.numel()
        history["loss"].append(total / count)
        network.eval()
        with torch.inference_mode():
            subset_losses = batch_loss(network, subset, None)
        history["entropy"].append(EntropyStop.entropy(subset_losses))
        if validation is not None:
            history["val_auc"].append(validation(network))
        if not np.isfinite(history["loss"][-1]):
            raise DegenerateModelError(f"training diverged at epoch {epoch} (loss is not finite); "
                                     "lower the learning rate or change the activation")
        if stopper is not None and stopper.step(epoch, history["entropy"][-1], network):
            break
    if stopper is not None and stopper.best_state is not None:
        network.load_state_dict(stopper.best_state)
        history["best_epoch"] = stopper.best_step
    history["epochs_run"] = len(history["loss"])
    network.eval()
    return history
