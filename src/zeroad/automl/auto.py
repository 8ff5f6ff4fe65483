"""AutoDetector: choose, configure and combine detectors for normal data with no labels."""

from __future__ import annotations

import os

import numpy as np

from zeroad.automl.combine import COMBINE, Reference, combine_scores
from zeroad.automl.criteria import CRITERIA
from zeroad.automl.portfolio import REGIMES
from zeroad.detectors.base import BaseDetector
from zeroad.detectors.validation import AnyOf, Instance, Integer, Options
from zeroad.errors import InputError


def pinned_params(params: dict) -> dict:
    """``params`` of an AutoDetector with ``portfolio_digest`` set to the digest of the
    portfolio it would load now, unless they pin one already.

    What a benchmark task runs AutoDetector with: the digest is then part of the
    task's identity, so that a results store never takes the rows of another
    portfolio (an earlier zeroad's shipped file, a rebuilt one) for this one's.
    """
    if params.get("portfolio_digest") is not None:
        return dict(params)
    _, _, digest = AutoDetector(**params)._load()
    return {**params, "portfolio_digest": digest}


class AutoDetector(BaseDetector):
    """Zero-shot AutoML detector: the learned portfolio picks what to fit.

    On ``fit`` it computes the meta-features of the normal rows, asks the
    portfolio (the one shipped with zeroad unless ``portfolio`` names a file)
    which configurations did best on the most similar benchmark datasets,
    fits the top ``ensemble_size`` of them (one per detector) and, when there
    is more than one, combines their scores. When the portfolio learned that a
    label-free criterion helps, a single choice is instead the one of the
    portfolio's top candidates that best separates held-out normal rows of the
    data from synthetic noise (:func:`zeroad.automl.criteria.choose_by_criterion`),
    refitted on every row. The portfolio says how many, how to combine and
    whether to use a criterion, as learned on benchmark datasets; no labels of
    the data at hand are used at any point.

    Parameters
    ----------
    training : {"clean", "contaminated", "unknown"} or None
        What the training rows are. "clean": normal rows only; the portfolio was
        learned on benchmark datasets under protocol v1. "contaminated": the rows may
        hold a few anomalies (unlabelled failures, signal in a control region); the
        portfolio was learned with 5% anomalies in every benchmark dataset's training
        rows (protocol v2) and combines refined configs. "unknown": either; the
        portfolio was learned from each config's mean AUC over both protocols, and
        combines only where combining won at each of them. The held-out figures of
        each are in docs/results.md, "AutoDetector's training regimes". None: the regime of
        the ``portfolio`` file, else zeroad's default regime, the one that lost
        least, measured held out, when the data were not what it assumed
        (``selection_["training"]`` says which and why; unknown since
        2026-12-04: kNN with 5 neighbours, refined).
    portfolio : str or None
        Path of a portfolio JSON written by ``zeroad zeroshot build``; None
        uses the one shipped for the ``training`` regime.
    ensemble_size : int or None
        How many members to combine; None takes the portfolio's (learned) choice;
        1 fits the single best choice.
    combine : {"zscore", "mean_rank"} or None
        None takes the portfolio's choice. "zscore" averages each member's score
        standardised by the mean and standard deviation of its training scores;
        "mean_rank" averages each member's rank among its training scores,
        breaking ties with the z-scores (see :mod:`zeroad.automl.combine`).
    criterion : {"box", "shuffle", "none"} or None
        None takes the portfolio's choice (its ``criterion``: a kind of noise and how
        many top candidates, or none). "none" fits the first-ranked member. A kind
        forces that criterion among the portfolio's top candidates: as many as the
        portfolio uses with it, else as many as served it best in the build's inner
        leave-one-dataset-out (all of them when that was not measured). A kind
        chooses one config: with ``ensemble_size`` None it fits one, whatever the
        portfolio's ensemble; with ``ensemble_size`` > 1 it is an error.
    portfolio_digest : str or None
        Pins the portfolio: the digest of what it decides (``selection_["portfolio_digest"]``
        of an earlier fit, or ``zeroad zeroshot build``'s output). A portfolio that
        decides otherwise (a newer zeroad's shipped file, a rebuilt file) is a one-line
        error instead of another choice. None accepts any portfolio.
    detector : str or None
        None chooses among every detector. A registry name (``"gmm"``) fits that
        detector only, with its data-dependent default: the config its own
        portfolio picks for these meta-features where the build found that this
        helps, else its single learned default (``selection_["rule"]`` says which).
        One model: ``ensemble_size`` and ``criterion`` must then be None, 1 or "none".
    scaler, contamination, fpr, calibration_fraction, refine, random_state
        As for every detector (``refine`` leaves out rows before any member is
        fitted; a member's config may refine again). ``scaler="none"`` by default because every
        member brings its own configured scaler.

    Attributes
    ----------
    members_ : list of fitted detectors
    selection_ : dict
        What was chosen and why: the training regime (``training``: regime, the
        training contamination its portfolio was learned at, and why this regime),
        meta-features, the selection rule, the
        nearest benchmark datasets, each member with its expected normalised AUC,
        and, where a criterion chose, ``criterion``: its kind, the held-out rows,
        what each candidate measured (or its error) and the chosen index.
    """

    _parameter_rules = {
        "training": Options(*REGIMES, None),
        "portfolio": AnyOf(Instance((str, os.PathLike), "a path"), Options(None)),
        "portfolio_digest": AnyOf(Instance((str,), "a portfolio digest"), Options(None)),
        "ensemble_size": AnyOf(Integer(1), Options(None)),
        "combine": Options(*COMBINE, None),
        "criterion": Options(*CRITERIA, "none", None),
        # Which names are registered is checked when the portfolio is read.
        "detector": AnyOf(Instance((str,), "a registered detector name"), Options(None)),
    }

    def __init__(self, *, training=None, portfolio=None, portfolio_digest=None,
                 ensemble_size=None, combine=None, criterion=None, detector=None,
                 scaler="none", contamination=None, fpr=None, calibration_fraction=0.2,
                 refine=0.0, random_state=None):
        super().__init__(scaler=scaler, contamination=contamination, fpr=fpr,
                         calibration_fraction=calibration_fraction, refine=refine,
                         random_state=random_state)
        self.training = training
        self.portfolio = portfolio
        self.portfolio_digest = portfolio_digest
        self.detector = detector
        self.ensemble_size = ensemble_size
        self.combine = combine
        self.criterion = criterion

    def _load(self) -> tuple[dict, dict, str]:
        """The portfolio, the regime it serves with why (``selection_["training"]``) and
        the digest of what it decides (checked against ``portfolio_digest``)."""
        from zeroad.automl.portfolio import (
            content_digest,
            default_regime,
            load_portfolio,
            training_of,
        )

        if self.portfolio is not None:
            portfolio = load_portfolio(self.portfolio)
            learned = training_of(portfolio)
            if self.training is not None and self.training != learned["regime"]:
                raise InputError(
                    f"portfolio {self.portfolio} was learned for the {learned['regime']} "
                    f"regime (training contamination {learned['train_contamination']:g}), "
                    f"not training={self.training!r}; build one from a matrix of that regime "
                    "(zeroad zeroshot matrix --train-contamination) or leave training=None")
            why = "the regime the portfolio file was learned for"
        elif self.training is not None:
            portfolio = load_portfolio(None, self.training)
            learned, why = training_of(portfolio), f"asked for: training={self.training!r}"
        else:
            regime, why = default_regime()
            portfolio = load_portfolio(None, regime)
            learned = training_of(portfolio)
        digest = content_digest(portfolio)
        if self.portfolio_digest is not None and self.portfolio_digest != digest:
            source = self.portfolio or f"the shipped {learned['regime']} portfolio"
            raise InputError(
                f"{source} has digest {digest}, not the pinned portfolio_digest="
                f"{self.portfolio_digest!r}: it would choose differently from the pinned "
                "one (another zeroad version or a rebuilt file); pass that portfolio's "
                "file as portfolio=, or pin the new digest")
        return portfolio, {**learned, "why": why}, digest

    def _criterion_plan(self, portfolio: dict) -> tuple[str | None, int]:
        """(kind of noise, number of top candidates), or (None, 1) for no criterion."""
        from zeroad.automl.criteria import CRITERIA

        learned = portfolio.get("criterion") or {"kind": None, "top_k": 1}
        if self.criterion is None:
            return learned["kind"], int(learned["top_k"])
        if self.criterion == "none":
            return None, 1
        if self.criterion not in CRITERIA:
            raise InputError(f"criterion must be one of {CRITERIA}, 'none' or None, "
                             f"got {self.criterion!r}")
        candidates = portfolio.get("candidates") or []
        if not candidates:
            raise InputError("this portfolio has no candidates for a criterion to choose "
                             "among; rebuild it with zeroad zeroshot build")
        if learned["kind"] == self.criterion:
            return self.criterion, int(learned["top_k"])
        # A criterion the build did not use: the number of candidates that served it
        # best in the build's inner leave-one-dataset-out, else all of them.
        measured = {int(key.split()[1]): value for key, value
                    in learned.get("inner_lodo_mean_normalised_auc", {}).items()
                    if key.split()[0] == self.criterion}
        top_k = max(measured, key=lambda t: (measured[t], -t)) if measured else len(candidates)
        return self.criterion, min(top_k, len(candidates))

    def _one_detector(self, portfolio: dict, meta: dict, size: int) -> dict:
        from zeroad.automl.portfolio import select_for_detector
        from zeroad.registry import get_spec

        if self.detector == "auto":
            raise InputError("detector='auto' would choose itself; use None to choose among "
                             "every detector")
        get_spec(self.detector)  # an unknown name: the registry's error lists the known ones
        if size != 1 or self.criterion not in (None, "none"):
            raise InputError(f"detector={self.detector!r} fits one model: ensemble_size must "
                             f"be None or 1 and criterion None or 'none', got "
                             f"{self.ensemble_size!r} and {self.criterion!r}")
        return select_for_detector(portfolio, self.detector, meta)

    def _fit_model(self, Xs: np.ndarray) -> None:
        from zeroad.automl.metafeatures import meta_features
        from zeroad.automl.portfolio import select
        from zeroad.registry import build_detector

        portfolio, training, digest = self._load()
        combine = portfolio.get("combine", COMBINE[0]) if self.combine is None else self.combine
        if combine not in COMBINE:
            raise InputError(f"combine must be one of {COMBINE}, got {combine!r}")
        size = self.ensemble_size
        forced = self.criterion in CRITERIA  # a criterion asked for chooses one config
        if size is None:
            size = 1 if self.detector is not None or forced else portfolio["ensemble_size"]
        if int(size) < 1:
            raise InputError(f"ensemble_size must be at least 1, got {size}")
        if forced and int(size) > 1:
            raise InputError(f"criterion={self.criterion!r} chooses one config: give "
                             f"ensemble_size=1 (or None) with it, not {size}")
        meta = meta_features(Xs, seed=self._seed)
        if self.detector is not None:
            selection, kind, top_k = self._one_detector(portfolio, meta, int(size)), None, 1
        else:
            selection = select(portfolio, meta, n=int(size))
            kind, top_k = self._criterion_plan(portfolio)
        if int(size) == 1 and kind is not None and top_k > 1:
            from zeroad.automl.criteria import choose_by_criterion

            candidates = portfolio["candidates"][:top_k]
            index, report = choose_by_criterion(candidates, Xs, kind, seed=self._seed)
            chosen = candidates[index]
            selection.update(
                rule=f"label-free criterion '{kind}' among the top {top_k} of the global "
                     "ranking", neighbours=[],
                chosen=[{"detector": chosen["detector"], "params": chosen["params"],
                         "expected_normalised_auc": round(chosen["mean_normalised_auc"], 4)}],
                criterion={**report, "top_k": top_k, "chosen": index})
        self.members_ = []
        for choice in selection["chosen"]:
            member = build_detector(choice["detector"], {
                **choice["params"], "calibration_fraction": 0.0, "random_state": self._seed})
            self.members_.append(member.fit(Xs))
        self.selection_ = {"training": training, "meta_features": meta, **selection,
                           "combine": combine,
                           "portfolio": self.portfolio or "shipped",
                           "portfolio_digest": digest,
                           "portfolio_datasets": len(portfolio["datasets"])}
        self.combine_ = combine
        references = [Reference.of(m.decision_scores_) for m in self.members_]
        self.member_mean_ = np.array([r.mean for r in references])
        self.member_std_ = np.array([r.std for r in references])
        self.member_quantiles_ = np.array([r.quantiles for r in references])

    def _combine(self, scores: list[np.ndarray]) -> np.ndarray:
        references = [Reference(float(m), float(s), q) for m, s, q in
                      zip(self.member_mean_, self.member_std_, self.member_quantiles_,
                          strict=True)]
        return combine_scores(scores, references, self.combine_)

    def _score(self, Xs: np.ndarray) -> np.ndarray:
        return self._combine([m.decision_function(Xs) for m in self.members_])

    def _training_scores(self, Xs: np.ndarray) -> np.ndarray:
        return self._combine([_every_row(m, Xs) for m in self.members_])

    def _persistent_state(self) -> dict:
        from zeroad.detectors.persistence import fitted_state
        from zeroad.registry import name_of

        state = {k: v for k, v in vars(self).items() if k.endswith("_")
                 and not k.startswith("_") and k != "members_"}
        state["member_specs_"] = [{"detector": name_of(m), "params": m.get_params()}
                                  for m in self.members_]
        for i, member in enumerate(self.members_):
            for key, value in fitted_state(member).items():
                state[f"member{i}__{key}"] = value
        return state

    def _restore_state(self, state: dict) -> None:
        from zeroad.detectors.persistence import rebuild

        specs = state.pop("member_specs_")
        self.members_ = []
        for i, spec in enumerate(specs):
            prefix = f"member{i}__"
            member_state = {k[len(prefix):]: state.pop(k) for k in list(state)
                            if k.startswith(prefix)}
            self.members_.append(rebuild(spec["detector"], spec["params"], member_state))
        for key, value in state.items():
            setattr(self, key, value)


def _every_row(member, Xs: np.ndarray) -> np.ndarray:
    """A member's score of every training row: its training score where it was fitted on
    the row, and its score as a new row where ``refine`` left the row out."""
    left_out = member.refined_out_
    if not left_out.size:
        return member.decision_scores_
    scores = np.empty(Xs.shape[0])
    fitted = np.ones(Xs.shape[0], dtype=bool)
    fitted[left_out] = False
    scores[fitted] = member.decision_scores_
    scores[left_out] = member.decision_function(Xs[left_out])
    return scores
