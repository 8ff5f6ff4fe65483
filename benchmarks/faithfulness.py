"""Is each deep one-class detector faithful to its paper? Its AUC next to the published one.

Every file ``benchmarks/published/NAME.json`` states, for one zeroad detector, what a
paper (or the DTE repository's tables) reports under the one-class protocol:

    {"detector": "icl", "source": "Livernoche et al. 2024, DTE repository, Table ...",
     "protocol": "half of the normal rows train; the rest plus all anomalies test; 5 seeds",
     "config": {"scaler": "standard", ...},      # zeroad parameters matching the paper
     "tolerance": 0.03,                            # |ours - published| allowed, in AUC
     "auc": {"adbench:wbc": 0.92, ...},            # published mean AUC per dataset
     "note": "what differs from the paper, if anything"}

This script fits the detector with that config on the same split as the paper
(:func:`zeroad.data.protocol.one_class_split` with no caps: half of the normal rows
train, the rest plus every anomaly test) for each dataset and seed, and writes into
``--out``:

- ``results.jsonl``: one row per (detector, dataset, seed), with AUC, fit and score
  seconds; rerun the same command to resume;
- ``faithfulness.md``: per detector and dataset, our mean AUC (and its standard
  deviation over seeds), the published figure, the difference and whether it is
  within the stated tolerance.

    python benchmarks/faithfulness.py --detectors icl goad --seeds 0 1 2 3 4 \\
        --out benchmarks/results/faithfulness
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

from zeroad import make_detector
from zeroad.datasets import load, one_class_split
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


def run_one(claim: dict, spec: str, seed: int, data_dir) -> dict:
    data = load(spec, data_dir)
    X_train, X_test, y_test = one_class_split(data.X, data.y, seed, max_train=len(data.y),
                                              max_test=len(data.y))
    detector = make_detector(claim["detector"], **claim.get("config", {}), random_state=seed)
    start = time.perf_counter()
    detector.fit(X_train)
    fitted = time.perf_counter()
    scores = detector.decision_function(X_test)
    scored = time.perf_counter()
    return {"detector": claim["detector"], "dataset": spec, "seed": seed,
            "params": json.dumps(claim.get("config", {}), sort_keys=True),
            "auc": roc_auc(y_test, scores), "fit_s": fitted - start, "score_s": scored - fitted,
            "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0]), "error": None}


def table(claims: list[dict], rows: list[dict]) -> str:
    lines = ["| detector | dataset | ours (mean ± sd) | seeds | published | ours - published "
             "| tolerance | within | fit s |", "|---|---|---|---|---|---|---|---|---|"]
    for claim in claims:
        for spec, published in claim["auc"].items():
            mine = [r for r in rows if r["detector"] == claim["detector"]
                    and r["dataset"] == spec and not r["error"]]
            if not mine:
                continue
            aucs = np.array([r["auc"] for r in mine])
            difference = aucs.mean() - published
            within = "yes" if abs(difference) <= claim["tolerance"] else "**no**"
            fit_s = np.mean([r["fit_s"] for r in mine])
            lines.append(f"| {claim['detector']} | {spec} | {aucs.mean():.4f} ± {aucs.std():.4f} "
                         f"| {len(mine)} | {published:.4f} | {difference:+.4f} "
                         f"| {claim['tolerance']} | {within} | {fit_s:.1f} |")
    notes = [f"- **{c['detector']}**: {c['source']}. {c.get('note', '')}".rstrip()
             for c in claims]
    return "\n".join([*lines, "", "Sources and differences from the papers:", *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--detectors", nargs="+", default=None,
                        help="detectors to check (default: every published claim)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--data-dir", default=None, help="folder with adbench/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    claims = published_claims(args.detectors)
    store = ResultsStore(args.out)
    with store.exclusive():
        done = {(r["detector"], r["dataset"], r["seed"]) for r in store.rows()}
        todo = [(c, spec, seed) for c in claims for spec in c["auc"] for seed in args.seeds
                if (c["detector"], spec, seed) not in done]
        for i, (claim, spec, seed) in enumerate(todo, 1):
            row = run_one(claim, spec, seed, args.data_dir)
            store.append(row)
            log.info("[%d/%d] %s %s seed %d: AUC %.4f (fit %.1f s)", i, len(todo),
                     claim["detector"], spec, seed, row["auc"], row["fit_s"])
    rows = store.rows()
    # The page lists every claim the store has rows for, not only this run's.
    claims_run = [c for c in published_claims(None)
                  if any(r["detector"] == c["detector"] for r in rows)]
    command = "python benchmarks/faithfulness.py " + " ".join(argv or sys.argv[1:])
    text = (f"# Deep one-class detectors against their published AUC\n\n"
            f"Produced by `{command}` on {platform.node() or 'this machine'} "
            f"({platform.processor() or platform.machine()}); protocol: half of the normal "
            "rows train, the rest plus every anomaly test, no row caps.\n\n"
            + table(claims_run, rows) + "\n")
    (Path(args.out) / "faithfulness.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
