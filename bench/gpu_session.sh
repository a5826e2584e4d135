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

# 3. Accuracy, at most four runs at a time (eleven at once starved each other last time).
# One line a run: a name, then bench/accuracy.py's arguments (JSON without spaces:
# --set model_options={"pool":[2,2,2]}).
# C120 = mixup 0.2, 120 epochs, last weights. On the CPU's small cnn3d (BENCHMARKS.md) UA rose
# from 0.533 to 0.592 with 120 epochs instead of 30, to 0.574 with 40 x 4 segments instead of
# 10 x 16 (the same 1.6 s; 80 x 2 fell back), to 0.636 with both, and to 0.668 (122 k parameters)
# with 60 x 4 (a 2.4 s window covering 90% of the clips); --freq-warp and --ema were neutral there.
# The paper's 3 s window as 30 x 10 and 75 x 4 segments:
C120="--corpora ravdess --set mixup=0.2 --set epochs=120 --set select=last"
RECIPES=(
  "ravdess-C120-cnn3d $C120 --models cnn3d"
  "ravdess-C120-cnn3d-30x10 $C120 --models cnn3d --feature segments=30 --feature segment_frames=10"
  "ravdess-C120-cnn3d-75x4 $C120 --models cnn3d --feature segments=75 --feature segment_frames=4"
  "ravdess-C120-cnn2d $C120 --models cnn2d"
)
running=0
for recipe in "${RECIPES[@]}"; do
  read -r name args <<< "$recipe"
  # shellcheck disable=SC2086  # args are words on purpose
  timeout 280 python bench/accuracy.py --pack carry --out "$OUT/$name.json" $args > "$OUT/$name.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge 4 ]; then wait -n; running=$((running - 1)); fi
done
wait
elapsed accuracy
for log in "$OUT"/*-*-*.log; do echo "== $(basename "$log")"; grep "UA\|Error" "$log" | tail -3; done
