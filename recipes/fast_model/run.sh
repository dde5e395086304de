#!/usr/bin/env bash
# Distil the shipped model into its 4-step student: corpus (the default model's, steps 1-2b of
# recipes/default_model/run.sh) -> jamflow train (stage distill) -> export (the adapters, fp16).
#
#   recipes/fast_model/run.sh [WORK] [train overrides...]
#   recipes/fast_model/run.sh /work/runs mixed_precision=bf16 data.max_frames=12000 optim.total_updates=4000  # a GPU
#
# Every step resumes. Environment: WORKERS (default 1), NICE (default "nice -n 19"), SKIP_TRAIN=1 to
# export the run as it stands. The evaluation commands are in README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
TEACHER="$(shipped_model)"
echo "teacher: $TEACHER"

# the default model's corpus (its steps 1-2b), which the teacher was trained on
WORKERS="$WORKERS" NICE="$NICE" bash "$RECIPE/../default_model/corpus.sh"

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/distill_cpu.yaml" --resume model.init_from="$TEACHER" "$@"
fi

# the student ships as its adapters (6.2 MB in fp16), applied to the teacher at load time
jamflow export --checkpoint distill_run --out student --dtype fp16
