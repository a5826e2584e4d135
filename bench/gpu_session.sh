#!/usr/bin/env bash
# A lent GPU session's checks in one call: the device tool gives a session about
# 15 minutes in all (start-up included), too little for several tries.
#
# Here, first (both folders are git-ignored; carry is limited to 64 MiB a call):
#   python bench/pack.py carry        # paper-recipe log-mels of RAVDESS and SAVEE, ~46 MB, tag paper
#                                     # (pack.py carry none: tag paper-level-none, for runs that set
#                                     # features.audio.level=none; PACK below names the tag)
#   pip download soundfile soxr cffi pycparser --only-binary=:all: --python-version 3.12 -d .whl
#                                     # the GPU machine's Python lacks them and has no network
# Then the call:  run  command="bash bench/gpu_session.sh"  carry=["carry", ".whl"]  timeout_s=560
# Every figure lands in $OUT (one log per step); edit RUNS for the accuracy runs.
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
timeout 200 python bench/train_throughput.py --recipe paper --models cnn3d --compile --steps 200 --epochs 4 \
  > "$OUT/throughput-cnn3d.log" 2>&1
grep "device\|samples/s" "$OUT/throughput-cnn3d.log"; elapsed throughput

# 2. Where cnn3d's step goes (eager, so every kernel shows).
timeout 60 python bench/profile_step.py --model cnn3d --recipe paper --rows 20 > "$OUT/profile-cnn3d.log" 2>&1
grep -A 24 "^device" "$OUT/profile-cnn3d.log"; elapsed profile

# 3. Accuracy, at most four runs at a time (eleven at once starved each other last time).
# One line a run: a name, then bench/accuracy.py's arguments over the paper recipe (JSON without
# spaces: --set model.pool=[2,2,2]). PACK names the packs every run reads (bench/pack.py's tag).
# C120 = mixup 0.2, 120 epochs, last weights. On the CPU's small cnn3d (BENCHMARKS.md) UA rose
# from 0.533 to 0.592 with 120 epochs instead of 30, to 0.574 with 40 x 4 segments instead of
# 10 x 16 (the same 1.6 s; 80 x 2 fell back), to 0.636 with both, and to 0.668 (122 k parameters)
# with 60 x 4 (a 2.4 s window covering 90% of the clips, the laptop recipe); train.freq_warp and
# train.ema were neutral there.
# The paper's 3 s window as 30 x 10 and 75 x 4 segments:
PACK="--pack carry --pack-tag paper"
C120="--corpora ravdess --set train.mixup=0.2 --set train.epochs=120 --set train.select=last"
RUNS=(
  "ravdess-C120-cnn3d $C120 --models cnn3d"
  "ravdess-C120-cnn3d-30x10 $C120 --models cnn3d --set features.segments=30 --set features.segment_frames=10"
  "ravdess-C120-cnn3d-75x4 $C120 --models cnn3d --set features.segments=75 --set features.segment_frames=4"
  "ravdess-C120-cnn2d $C120 --models cnn2d"
)
running=0
for run in "${RUNS[@]}"; do
  read -r name args <<< "$run"
  # shellcheck disable=SC2086  # PACK and args are words on purpose
  timeout 280 python bench/accuracy.py --recipe paper $PACK --out "$OUT/$name.json" $args > "$OUT/$name.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge 4 ]; then wait -n; running=$((running - 1)); fi
done
wait
elapsed accuracy
for log in "$OUT"/*-*-*.log; do echo "== $(basename "$log")"; grep "UA\|Error" "$log" | tail -3; done
