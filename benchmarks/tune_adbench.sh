#!/usr/bin/env bash
# FLAML search of one detector on every ADBench dataset, one `zeroad tune` per dataset.
# Usage: benchmarks/tune_adbench.sh DETECTOR SECONDS OUT
# Each search is resumable (rerunning continues from its recorded trials). The
# committed searches (benchmarks/results/adbench_tune_{knn,pca,gmm}) ran as
#   benchmarks/tune_adbench.sh knn 20 benchmarks/results/adbench_tune_knn
# on this project's 2-core machine, 10,000 fit rows (the matrix's cap), seed 0.
set -euo pipefail
detector=$1 seconds=$2 out=$3
python=${PYTHON:-python}
zeroad=${ZEROAD:-zeroad}
datasets=$("$python" -c "from zeroad.datasets import expand; print(*expand('adbench'))")
for dataset in $datasets; do
  echo "$(date +%T) $detector $dataset" >&2
  "$zeroad" tune --dataset "$dataset" --detector "$detector" --time-budget "$seconds" \
    --max-train 10000 --seed 0 --out "$out"
done
