#!/usr/bin/env bash
# The voices recipes' shared second half (run.sh, kokoro.sh), in the current WORK folder, after corpus/ is
# prepared and aligned: fine-tune BASE with CONFIG, export the run (fp16) to export/, refit its phoneme
# duration predictor on corpus/, restart its text positions past the longest training transcript (as the
# shipped model does), and score it and BASE zero-shot on voices of no corpus, each clip prompted by another
# 3-5 s clip of its speaker (PREFIX_{shipped,export}_{librivox,flite}/; the ground-truth row is the
# speaker's own recordings).
#   CONFIG=voices_cpu.yaml PREFIX=eval BASE=... RECIPE=... bash finetune.sh [train overrides...]
# Environment as the callers': NICE, NFE, SAMPLES, SKIP_TRAIN.
set -euo pipefail

RUN_DIR="$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["run_dir"])' "$RECIPE/$CONFIG")"
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/$CONFIG" --resume model.init_from="$BASE" "$@"
fi
jamflow export --checkpoint "$RUN_DIR" --out export --dtype fp16
$NICE jamflow fit-durations --cache corpus/cache_phoneme --checkpoint export --out export
python3 "$RECIPE/../default_model/helpers.py" text-window corpus/cache_phoneme export

python3 "$RECIPE/helpers.py" unseen-sets unseen
for model in shipped export; do
  ckpt="$BASE"; [ "$model" = export ] && ckpt=export
  for set in librivox flite; do
    $NICE jamflow eval --ref "unseen/$set/manifest.jsonl" --checkpoint "$ckpt" --task tts --prompt_seconds 3,5 \
      --nfe_step "$NFE" --seed 0 --samples "$SAMPLES" --vocoder griffinlim --metrics asr,speaker \
      --out "${PREFIX}_${model}_$set"
  done
done
