#!/usr/bin/env bash
# Model v2 candidate: the shipped model fine-tuned on a many-speaker corpus, scored zero-shot on voices
# that are in no training corpus (a real LibriVox reader, flite's awb and rms).
#   many-speaker corpus -> prepare -> align -> jamflow train (from the shipped model) -> export (fp16)
#   -> fit-durations -> eval (unseen voices, tts) for the shipped model and the candidate
#
#   recipes/voices_model/run.sh [WORK] [train overrides...]
#   recipes/voices_model/run.sh /work/runs data.max_frames=12000 data.max_samples=32 optim.total_updates=20000  # a GPU
#
# Every step resumes. Environment: WORKERS (default 1), NICE (default "nice -n 19"), NFE (16),
# SAMPLES (3 seeds per clip), SKIP_TRAIN=1 to export and evaluate the run as it stands.
# Needs the corpus extra (pip install -e ".[corpus]": pyworld, hibari-tts) and Debian's
# pocketsphinx-testdata (the LibriVox clips).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
NFE="${NFE:-16}"
SAMPLES="${SAMPLES:-3}"
BASE="$(shipped_lips_model)"
echo "fine-tuned from: $BASE"

# 1-2. the many-speaker corpus: synth-data, the shipped model's motion stats, prepare, align (corpus.sh)
WORKERS="$WORKERS" NICE="$NICE" BASE="$BASE" bash "$RECIPE/corpus.sh"

# 3-5. fine-tune every stream and task from the shipped weights, export, refit the durations, set the text
#      window, score both models on the unseen sets (finetune.sh)
CONFIG=voices_cpu.yaml PREFIX=eval BASE="$BASE" RECIPE="$RECIPE" NICE="$NICE" NFE="$NFE" SAMPLES="$SAMPLES" \
  bash "$RECIPE/finetune.sh" "$@"
echo "done: $(pwd)/export (candidate), eval_*/report.md"
