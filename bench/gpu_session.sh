#!/usr/bin/env bash
# A lent GPU session's checks in one call: the device tool gives a session about
# 15 minutes in all (start-up included), too little for several tries.
#
# Here, first (both folders are git-ignored; carry is limited to 64 MiB a call):
#   python bench/pack.py carry        # paper-preset log-mels of RAVDESS and SAVEE, ~46 MB
#   pip download soundfile soxr cffi pycparser --only-binary=:all: --python-version 3.12 -d .whl
#                                     # the GPU machine's Python lacks them and has no network
# Then the call:  run  command="bash bench/gpu_session.sh"  carry=["carry", ".whl"]  timeout_s=560
# Every figure lands in $OUT (one log per step); edit RECIPES for the accuracy runs.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
T0=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

# 1. Throughput: plain loop, stock switches, folded 2D, the trainer (eager, CUDA graph, + compile).
timeout 200 python bench/train_throughput.py --preset paper --models cnn3d --compile --steps 200 --epochs 4 \
  > "$OUT/throughput-cnn3d.log" 2>&1
grep "device\|samples/s" "$OUT/throughput-cnn3d.log"; elapsed throughput

# 2. Where cnn3d's step goes (eager, so every kernel shows).
timeout 60 python bench/profile_step.py --model cnn3d --preset paper --rows 20 > "$OUT/profile-cnn3d.log" 2>&1
grep -A 24 "^device" "$OUT/profile-cnn3d.log"; elapsed profile

# 3. Accuracy, at most three runs at a time (eleven at once starved each other last time).
# One line a run: a name, then bench/accuracy.py's arguments (JSON without spaces:
# --set model_options={"pool":[2,2,2]}).
RECIPES=(
  "ravdess-C-cnn3d   --corpora ravdess --models cnn3d --set mixup=0.2 --set epochs=80 --set select=last"
  "ravdess-C-cnn2d   --corpora ravdess --models cnn2d --set mixup=0.2 --set epochs=80 --set select=last"
  "ravdess-C-cnn3d-5blocks --corpora ravdess --models cnn3d --set mixup=0.2 --set epochs=80 --set select=last --set model_options={\"channels\":[24,48,96,128,128]}"
)
running=0
for recipe in "${RECIPES[@]}"; do
  read -r name args <<< "$recipe"
  # shellcheck disable=SC2086  # args are words on purpose
  timeout 240 python bench/accuracy.py --pack carry --out "$OUT/$name.json" $args > "$OUT/$name.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge 3 ]; then wait -n; running=$((running - 1)); fi
done
wait
elapsed accuracy
for log in "$OUT"/*-*-*.log; do echo "== $(basename "$log")"; grep "UA\|Error" "$log" | tail -3; done
