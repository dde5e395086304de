#!/usr/bin/env bash
# Distil the shipped model into its 4-step student, in two stages:
#   1. the default model's corpus (recipes/default_model/corpus.sh) -> jamflow train (distill_cpu.yaml)
#      -> export student_stage1
#   2. the many-speaker corpus (recipes/voices_model/corpus.sh, in voices/) -> jamflow train
#      (distill_voices_cpu.yaml, on from student_stage1's adapters) -> export student
#
#   recipes/fast_model/run.sh [WORK] [stage-2 train overrides...]
#   recipes/fast_model/run.sh /work/runs mixed_precision=bf16 data.max_frames=12000 optim.total_updates=2000  # a GPU
#
# Every step resumes. Environment: WORKERS (default 1), NICE (default "nice -n 19"), SKIP_TRAIN=1 to
# export the runs as they stand, STAGE1 (overrides for stage 1, default "optim.total_updates=1600").
# The evaluation commands are in README.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
TEACHER="$(shipped_lips_model)"
echo "teacher: $TEACHER"
read -r -a STAGE1_OVERRIDES <<< "${STAGE1:-optim.total_updates=1600}"

# the default model's corpus (its steps 1-2b), which the teacher was trained on
WORKERS="$WORKERS" NICE="$NICE" bash "$RECIPE/../default_model/corpus.sh"

# 1. the student on the teacher's own corpus; it ships as its adapters (fp16), applied to the teacher at load
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/distill_cpu.yaml" --resume model.init_from="$TEACHER" "${STAGE1_OVERRIDES[@]}"
fi
jamflow export --checkpoint distill_run --out student_stage1 --dtype fp16

# 2. on from stage 1 with prompts in many more voices: the many-speaker corpus, in voices/
mkdir -p voices
(cd voices && WORKERS="$WORKERS" NICE="$NICE" BASE="$TEACHER" bash "$RECIPE/../voices_model/corpus.sh")
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/distill_voices_cpu.yaml" --resume model.init_from="$TEACHER" "$@"
fi
jamflow export --checkpoint distill_voices_run --out student --dtype fp16
echo "done: $(pwd)/student"
