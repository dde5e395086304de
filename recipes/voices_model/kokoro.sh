#!/usr/bin/env bash
# Model v2 candidate on Kokoro's voices: the shipped whole-face model's speech side fine-tuned on a corpus
# of Kokoro-82M's English voices and their blends plus festival, then scored zero-shot on voices of no
# corpus (the LibriVox reader, flite's awb and rms) and on the seen festival voices, beside the shipped model.
#   corpus -> model stats -> prepare -> align -> train (stage audio) -> export (fp16) -> fit-durations -> eval
#
#   recipes/voices_model/kokoro.sh [WORK] [train overrides...]
#   recipes/voices_model/kokoro.sh /work/runs data.max_frames=12000 data.max_samples=32  # a GPU
#
# Every step resumes. Environment: WORKERS (default 1), NICE (default "nice -n 19"), CLIPS (1600), NFE (16),
# SAMPLES (3 seeds per clip), SKIP_TRAIN=1 to export and evaluate the run as it stands.
# Needs the corpus extra and Kokoro's style vectors (pip install -e ".[corpus]" &&
# python -m jamflow.data.kokoro --install-voices) and Debian's pocketsphinx-testdata.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
NFE="${NFE:-16}"
SAMPLES="${SAMPLES:-3}"
CLIPS="${CLIPS:-1600}"
BASE="$(python3 -c 'from jamflow.infer.api import DEFAULT_MODEL_DIR; print(DEFAULT_MODEL_DIR)')"
echo "fine-tuned from: $BASE"

# 1. 65% Kokoro (26 voices and 40 blends; af_nova and bm_lewis held out), 35% festival (slt_hts,
#    kal_diphone; ked_diphone held out); no espeak-ng. --out is absolute (manifest paths).
$NICE jamflow synth-data --out "$PWD/corpus" --num_clips "$CLIPS" --num_sentences 12000 \
  --voices festival,kokoro --voice_shares festival=0.35,kokoro=0.65 --seed 11 --workers "$WORKERS"
python3 "$RECIPE/helpers.py" model-stats corpus/card.json "$BASE"
$NICE jamflow prepare --manifest corpus/manifest.jsonl --out corpus/cache_phoneme --tokenizer phoneme --workers "$WORKERS"
$NICE jamflow align --cache corpus/cache_phoneme --workers "$WORKERS"

# 2-3. fine-tune the speech side (the motion stream frozen) from the shipped weights, export, refit the
#      durations, set the text window, score both models on the unseen sets (finetune.sh)
CONFIG=kokoro_cpu.yaml PREFIX=eval_kokoro BASE="$BASE" RECIPE="$RECIPE" NICE="$NICE" NFE="$NFE" SAMPLES="$SAMPLES" \
  bash "$RECIPE/finetune.sh" "$@"

# 4. tts on the seen festival voices, for both models
python3 "$RECIPE/../default_model/helpers.py" eval-subset corpus/manifest.jsonl corpus/eval_seen.jsonl \
  --voices festival:slt_hts=5,festival:kal_diphone=5
for model in shipped export; do
  ckpt="$BASE"; [ "$model" = export ] && ckpt=export
  $NICE jamflow eval --ref corpus/eval_seen.jsonl --checkpoint "$ckpt" --task tts --nfe_step "$NFE" --seed 0 \
    --samples 2 --vocoder griffinlim --metrics asr,speaker --out "eval_kokoro_${model}_seen"
done
echo "done: $(pwd)/export (candidate), eval_kokoro_*/report.md"
