#!/usr/bin/env bash
# The runs behind the Claims page on one corpus, then `ser claims` on them:
#   1. the equal-size kernel grid (every cell scaled to one parameter budget);
#   2. cnn3d against cnn_lstm on the same folds, over 3 seeds (cnn3d with its final
#      model, whose embeddings give the cluster scores).
# Run folders go under OUT (runs/ and sweeps/), so `ser claims --runs OUT/runs
# --sweeps OUT/sweeps` reads these and nothing else; a run cut short resumes.
#
#   bash bench/claims.sh MANIFEST [OUT] [RECIPE] [BUDGET]
#   bash bench/claims.sh runs/ravdess.csv runs/claims demo 7.5k    # the tiny scale: about 40 min on 2 cores
set -euo pipefail
MANIFEST=${1:?usage: bash bench/claims.sh MANIFEST [OUT] [RECIPE] [BUDGET]}
OUT=${2:-runs/claims}
RECIPE=${3:-demo}
BUDGET=${4:-7.5k}
SPLIT=${SPLIT:-kfold:6}
EXECUTOR=${EXECUTOR:-ray}
SER=${SER:-ser}
read -r -a extra <<< "${EXTRA:-}"  # e.g. EXTRA="--epochs 1" for a smoke run
T0=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
common=(-m "$MANIFEST" --recipe "$RECIPE" --split "$SPLIT" --executor "$EXECUTOR" --quiet ${extra[@]+"${extra[@]}"})

$SER sweep "${common[@]}" --k-seg 1,2,3,4 --k-mel 1,3,5,9 --params "$BUDGET" --no-final \
  --out "$OUT/sweeps/equal-size"
elapsed "equal-size kernel grid"
$SER train "${common[@]}" --model cnn3d --seeds 3 --out "$OUT/runs/cnn3d"
elapsed "cnn3d, 3 seeds, final model"
$SER train "${common[@]}" --model cnn_lstm --seeds 3 --no-final --out "$OUT/runs/cnn_lstm"
elapsed "cnn_lstm, 3 seeds"
$SER claims --runs "$OUT/runs" --sweeps "$OUT/sweeps"
$SER claims --runs "$OUT/runs" --sweeps "$OUT/sweeps" --json > "$OUT/claims.json"
