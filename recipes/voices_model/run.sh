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

# 3. fine-tune every stream and task from the shipped weights
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/voices_cpu.yaml" --resume model.init_from="$BASE" "$@"
fi

# 4. export (fp16), refit the phoneme duration predictor on the new corpus, restart text positions past the
#    longest training transcript
jamflow export --checkpoint voices_run --out export --dtype fp16
$NICE jamflow fit-durations --cache corpus/cache_phoneme --checkpoint export --out export
python3 "$RECIPE/../default_model/helpers.py" text-window corpus/cache_phoneme export

# 5. zero-shot tts on unseen voices, each clip prompted by another 3-5 s clip of its speaker;
#    the report's ground-truth row is the speaker's own recordings
python3 "$RECIPE/helpers.py" unseen-sets unseen
for model in shipped export; do
  ckpt="$BASE"; [ "$model" = export ] && ckpt=export
  for set in librivox flite; do
    $NICE jamflow eval --ref "unseen/$set/manifest.jsonl" --checkpoint "$ckpt" --task tts --prompt_seconds 3,5 \
      --nfe_step "$NFE" --seed 0 --samples "$SAMPLES" --vocoder griffinlim --metrics asr,speaker \
      --out "eval_${model}_$set"
  done
done
echo "done: $(pwd)/export (candidate), eval_*/report.md"
