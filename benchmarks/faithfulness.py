"""Is each deep one-class detector faithful to its paper? Its AUC next to the published one.

Every file ``benchmarks/published/NAME.json`` states, for one zeroad detector, what a
paper (or the DTE repository's tables) reports under the one-class protocol:

    {"detector": "icl", "source": "Livernoche et al. 2024, DTE repository, Table ...",
     "protocol": "half of the normal rows train; the rest plus all anomalies test; 5 seeds",
     "config": {"scaler": "standard", ...},      # zeroad parameters matching the paper
     "tolerance": 0.03,                            # |ours - published| allowed, in AUC
     "auc": {"adbench:wbc": 0.92, ...},            # published mean AUC per dataset
     "note": "what differs from the paper, if anything"}

This script fits the detector with that config for each dataset and seed on one of
two splits (``--split``), both with no row caps:

- ``random`` (the default): zeroad's protocol v1,
  :func:`zeroad.data.protocol.one_class_split`: a random half of the normal rows per
  seed trains, the rest plus every anomaly test;
- ``file-order``: the DTE repository's split, which the published tables used: the
  first half of the normal rows in file order trains, the rest plus every anomaly
  test, the same rows for every seed (the seed then only seeds the detector).

It writes into ``--out``:

- ``results.jsonl``: one row per (detector, dataset, seed, split), with AUC, fit and
  score seconds; rerun the same command to resume;
- ``faithfulness.md``: per split, detector and dataset, our mean AUC (and its
  standard deviation over seeds), the published figure, the difference and whether
  it is within the stated tolerance.

    python benchmarks/faithfulness.py --detectors icl goad --seeds 0 1 2 3 4 \\
        --out benchmarks/results/faithfulness
    python benchmarks/faithfulness.py --detectors knn dte_np --split file-order \\
        --seeds 0 1 2 --out benchmarks/results/faithfulness
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
from studylib import recorded_commands, run_script

from zeroad import make_detector
from zeroad.datasets import load, one_class_split
from zeroad.errors import ZeroadError
from zeroad.evaluation.metrics import roc_auc
from zeroad.evaluation.store import ResultsStore

PUBLISHED = Path(__file__).resolve().parent / "published"
log = logging.getLogger("faithfulness")


def published_claims(names: list[str] | None) -> list[dict]:
    """The claims in ``benchmarks/published/``, for the detectors ``names`` (all by default)."""
    claims = [json.loads(path.read_text()) for path in sorted(PUBLISHED.glob("*.json"))]
    if names:
        unknown = set(names) - {c["detector"] for c in claims}
        if unknown:
            raise SystemExit(f"no published claim for {sorted(unknown)} in {PUBLISHED}")
        claims = [c for c in claims if c["detector"] in names]
    return claims


SPLITS = ("random", "file-order")


def file_order_split(X, y):
    """The DTE repository's split: the first half of the normal rows, in file order, train;
    the other half plus every anomaly test. Returns ``X_train, X_test, y_test``."""
    y = np.asarray(y).astype(np.int64).ravel()
    normal = np.flatnonzero(y == 0)
    half = round(0.5 * normal.size)
    test = np.concatenate([normal[half:], np.flatnonzero(y == 1)])
    return X[normal[:half]], X[test], y[test]


def run_one(claim: dict, spec: str, seed: int, data_dir, split: str = "random") -> dict:
    data = load(spec, data_dir)
    if split == "file-order":
        X_train, X_test, y_test = file_order_split(data.X, data.y)
    else:
        X_train, X_test, y_test = one_class_split(data.X, data.y, seed,
                                                  max_train=len(data.y), max_test=len(data.y))
    detector = make_detector(claim["detector"], **claim.get("config", {}), random_state=seed)
    start = time.perf_counter()
    detector.fit(X_train)
    fitted = time.perf_counter()
    scores = detector.decision_function(X_test)
    scored = time.perf_counter()
    return {"detector": claim["detector"], "dataset": spec, "seed": seed, "split": split,
            "params": json.dumps(claim.get("config", {}), sort_keys=True),
            "auc": roc_auc(y_test, scores), "fit_s": fitted - start, "score_s": scored - fitted,
            "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0]), "error": None}


def split_of(row: dict) -> str:
    """A row's split; rows written before ``--split`` existed used the random one."""
    return row.get("split", "random")


def rows_of(store: ResultsStore) -> list[dict]:
    """The latest row per (detector, dataset, seed, split): the store's own key does not
    know the split."""
    latest = {(r["detector"], r["dataset"], r["seed"], split_of(r)): r for r in store.history()}
    return list(latest.values())


def table(claims: list[dict], rows: list[dict], split: str = "random") -> str:
    """The markdown table of ``rows`` made on ``split``, one line per claimed dataset."""
    lines = ["| detector | dataset | ours (mean ± sd) | seeds | published | ours - published "
             "| tolerance | within | fit s |", "|---|---|---|---|---|---|---|---|---|"]
    for claim in claims:
        for spec, published in claim["auc"].items():
            mine = [r for r in rows if r["detector"] == claim["detector"]
                    and r["dataset"] == spec and not r["error"] and split_of(r) == split]
            if not mine:
                continue
            aucs = np.array([r["auc"] for r in mine])
            difference = aucs.mean() - published
            within = "yes" if abs(difference) <= claim["tolerance"] else "**no**"
            fit_s = np.mean([r["fit_s"] for r in mine])
            lines.append(f"| {claim['detector']} | {spec} | {aucs.mean():.4f} ± {aucs.std():.4f} "
                         f"| {len(mine)} | {published:.4f} | {difference:+.4f} "
                         f"| {claim['tolerance']} | {within} | {fit_s:.1f} |")
    return "\n".join(lines)


def page(claims: list[dict], rows: list[dict], commands: list[str]) -> str:
    """faithfulness.md: a table per split that has rows, then each claim's source."""
    parts = ["# Deep one-class detectors against their published AUC", "",
             f"Produced on {platform.node() or 'this machine'} "
             f"({platform.processor() or platform.machine()}) by", "",
             *[f"    {c}" for c in commands], "",
             "No row caps. Published figures: the claims in `benchmarks/published/`.", ""]
    headings = {"random": "## Random split (zeroad's protocol v1)\n\nA random half of "
                          "the normal rows trains, drawn per seed; the rest plus every "
                          "anomaly test.",
                "file-order": "## File-order split (the DTE repository's)\n\nThe first "
                              "half of the normal rows in file order trains, the same rows "
                              "for every seed; the rest plus every anomaly test."}
    for split in SPLITS:
        if any(split_of(r) == split for r in rows):
            parts += [headings[split], "", table(claims, rows, split), ""]
    parts += ["## Sources and differences from the papers", ""]
    parts += [f"- **{c['detector']}**: {c['source']}. {c.get('note', '')}".rstrip()
              for c in claims]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--detectors", nargs="+", default=None,
                        help="detectors to check (default: every published claim)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--split", choices=SPLITS, default="random",
                        help="random: a random half of the normal rows per seed trains "
                             "(zeroad's protocol v1); file-order: the first half in file "
                             "order, as the DTE repository's tables (default: random)")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="only these of the claimed datasets (default: every one)")
    parser.add_argument("--data-dir", default=None, help="folder with adbench/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    claims = published_claims(args.detectors)
    if args.datasets is not None:
        claimed = {spec for c in claims for spec in c["auc"]}
        unclaimed = sorted(set(args.datasets) - claimed)
        if unclaimed:
            raise ZeroadError(f"no published figure for {', '.join(unclaimed)} among the "
                              f"claims run; they have {', '.join(sorted(claimed))}")
        claims = [{**c, "auc": {spec: auc for spec, auc in c["auc"].items()
                                if spec in args.datasets}} for c in claims]
    store = ResultsStore(args.out)
    with store.exclusive():
        done = {(r["detector"], r["dataset"], r["seed"], split_of(r)) for r in rows_of(store)}
        todo = [(c, spec, seed) for c in claims for spec in c["auc"] for seed in args.seeds
                if (c["detector"], spec, seed, args.split) not in done]
        for i, (claim, spec, seed) in enumerate(todo, 1):
            row = run_one(claim, spec, seed, args.data_dir, args.split)
            store.append(row)
            log.info("[%d/%d] %s %s seed %d (%s split): AUC %.4f (fit %.1f s)", i, len(todo),
                     claim["detector"], spec, seed, args.split, row["auc"], row["fit_s"])
    rows = rows_of(store)
    # The page lists every claim the store has rows for, not only this run's.
    claims_run = [c for c in published_claims(None)
                  if any(r["detector"] == c["detector"] for r in rows)]
    command = "python benchmarks/faithfulness.py " + " ".join(argv or sys.argv[1:])
    text = page(claims_run, rows, recorded_commands(store.directory, command))
    (Path(args.out) / "faithfulness.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
