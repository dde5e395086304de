#!/usr/bin/env bash
# The many-speaker corpus (run.sh steps 1-2b), in corpus/ of the current folder; recipes/fast_model/run.sh
# distils its student's second stage on it too. Every step resumes.
# Environment: WORKERS (default 1), NICE (default "nice -n 19"), BASE (the model whose motion
# normalisation the corpus keeps; default the shipped model).
set -euo pipefail

WORKERS="${WORKERS:-1}"
NICE="${NICE:-nice -n 19}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${BASE:-$(python3 -c 'from jamflow.infer.api import LIPS_MODEL_DIR; print(LIPS_MODEL_DIR)')}"

# 1. 40% festival (slt_hts, kal_diphone; ked_diphone held out), 40% hibari's bundled neural voice,
#    20% espeak-ng variants; 60% of clips re-spoken by one of 16 WORLD-warped speakers of their voice
#    (F0, formants, rate, room colour). 2400 clips, ~110 min of speech; 12000 sentences to draw from.
#    --out is absolute: synth-data writes manifest paths relative to the working directory otherwise.
$NICE jamflow synth-data --out "$PWD/corpus" --num_clips 2400 --num_sentences 12000 \
  --voices espeak,festival,hibari --voice_shares festival=0.4,hibari=0.4,espeak=0.2 \
  --augment_share 0.6 --warps_per_voice 16 --seed 7 --workers "$WORKERS"

# 1b. keep the base model's motion normalisation (prepare normalises by the card's stats)
python3 "$HERE/helpers.py" model-stats corpus/card.json "$BASE"

# 2. features and 2b. phoneme durations, as for the default model
$NICE jamflow prepare --manifest corpus/manifest.jsonl --out corpus/cache_phoneme --tokenizer phoneme --workers "$WORKERS"
$NICE jamflow align --cache corpus/cache_phoneme --workers "$WORKERS"
