"""AutoDetector: choose, configure and combine detectors for normal data with no labels."""

from __future__ import annotations

import numpy as np

from zeroad.detectors.base import BaseDetector
from zeroad.errors import InputError

COMBINE = ("zscore", "mean_rank")


class AutoDetector(BaseDetector):
    """Zero-shot AutoML detector: the learned portfolio picks what to fit.

    On ``fit`` it computes the meta-features of the normal rows, asks the
    portfolio (the one shipped with zeroad unless ``portfolio`` names a file)
    which configurations did best on the most similar benchmark datasets,
    fits the top ``ensemble_size`` of them (one per detector) and averages
    their standardised scores. No labels are used at any point.

    Parameters
    ----------
    portfolio : str or None
        Path of a portfolio JSON written by ``zeroad zeroshot build``; None
        uses the shipped one.
    ensemble_size : int or None
        How many members to combine; None takes the portfolio's recommendation;
        1 fits the single best choice.
    combine : {"zscore", "mean_rank"}
        "zscore" averages each member's score standardised by the mean and
        standard deviation of its training scores; "mean_rank" averages each
        member's rank among its training scores (the fraction of training rows
        it scores above), breaking ties with the z-scores.
    scaler, contamination, fpr, calibration_fraction, random_state
        As for every detector. ``scaler="none"`` by default because every
        member brings its own configured scaler.

    Attributes
    ----------
    members_ : list of fitted detectors
    selection_ : dict
        What was chosen and why: meta-features, the selection rule, the
        nearest benchmark datasets, each member with its expected normalised AUC.
    """

    def __init__(self, *, portfolio=None, ensemble_size=None, combine="zscore",
                 scaler="none", contamination=None, fpr=None, calibration_fraction=0.2,
                 random_state=None):
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction, random_state=random_state)
        self.portfolio = portfolio
        self.ensemble_size = ensemble_size
        self.combine = combine

    def _fit_model(self, Xs: np.ndarray) -> None:
        from zeroad.automl.metafeatures import meta_features
        from zeroad.automl.portfolio import load_portfolio, select
        from zeroad.registry import build_detector

        if self.combine not in COMBINE:
            raise InputError(f"combine must be one of {COMBINE}, got {self.combine!r}")
        portfolio = load_portfolio(self.portfolio)
        size = portfolio["ensemble_size"] if self.ensemble_size is None else self.ensemble_size
        if int(size) < 1:
            raise InputError(f"ensemble_size must be at least 1, got {size}")
        meta = meta_features(Xs, seed=self._seed)
        selection = select(portfolio, meta, n=int(size))
        self.members_ = []
        for choice in selection["chosen"]:
            member = build_detector(choice["detector"], {
                **choice["params"], "calibration_fraction": 0.0, "random_state": self._seed})
            self.members_.append(member.fit(Xs))
        self.selection_ = {"meta_features": meta, **selection, "combine": self.combine,
                           "portfolio": self.portfolio or "shipped",
                           "portfolio_datasets": len(portfolio["datasets"])}
        train = [m.decision_scores_ for m in self.members_]
        self.member_mean_ = np.array([s.mean() for s in train])
        self.member_std_ = np.array([s.std() if s.std() > 0 else 1.0 for s in train])
        self.member_train_scores_ = [np.sort(s) for s in train]

    def _combine(self, scores: list[np.ndarray]) -> np.ndarray:
        z = np.mean([(s - mu) / sd for s, mu, sd in
                     zip(scores, self.member_mean_, self.member_std_, strict=True)], axis=0)
        if len(scores) == 1 or self.combine == "zscore":
            return z
        ranks = np.mean([np.searchsorted(ref, s, side="right") / ref.size
                         for s, ref in zip(scores, self.member_train_scores_, strict=True)],
                        axis=0)
        # Beyond every training score all ranks are 1: the z-scores keep those rows ordered.
        return ranks + 1e-6 * np.tanh(z)

    def _score(self, Xs: np.ndarray) -> np.ndarray:
        return self._combine([m.decision_function(Xs) for m in self.members_])

    def _training_scores(self, Xs: np.ndarray) -> np.ndarray:
        return self._combine([m.decision_scores_ for m in self.members_])

    def _persistent_state(self) -> dict:
        from zeroad.detectors.persistence import fitted_state
        from zeroad.registry import name_of

        state = {k: v for k, v in vars(self).items() if k.endswith("_")
                 and not k.startswith("_") and k not in ("members_", "member_train_scores_")}
        state["member_specs_"] = [{"detector": name_of(m), "params": m.get_params()}
                                  for m in self.members_]
        for i, member in enumerate(self.members_):
            state[f"member{i}_train_scores_"] = self.member_train_scores_[i]
            for key, value in fitted_state(member).items():
                state[f"member{i}__{key}"] = value
        return state

    def _restore_state(self, state: dict) -> None:
        from zeroad.detectors.persistence import rebuild

        specs = state.pop("member_specs_")
        self.members_, self.member_train_scores_ = [], []
        for i, spec in enumerate(specs):
            prefix = f"member{i}__"
            member_state = {k[len(prefix):]: state.pop(k) for k in list(state)
                            if k.startswith(prefix)}
            self.members_.append(rebuild(spec["detector"], spec["params"], member_state))
            self.member_train_scores_.append(np.asarray(state.pop(f"member{i}_train_scores_")))
        for key, value in state.items():
            setattr(self, key, value)
        self.member_mean_ = np.asarray(self.member_mean_, dtype=np.float64)
        self.member_std_ = np.asarray(self.member_std_, dtype=np.float64)
