#!/usr/bin/env bash
# The default model's corpus, in the current folder: synth-data -> prepare -> align (run.sh steps 1-2b;
# recipes/fast_model/run.sh distils on the same corpus). Every step resumes where it stopped.
# Environment: WORKERS (default 1), NICE (default "nice -n 19").
set -euo pipefail

WORKERS="${WORKERS:-1}"
NICE="${NICE:-nice -n 19}"

# 1. corpus: 80% festival (slt_hts, kal_diphone; ked_diphone held out) + 20% espeak-ng variants
#    (en-gb-x-rp+f4 held out); 5% of sentences held out by hash. 135 min of speech, 2044 train clips.
#    --out is absolute: with a relative one synth-data writes manifest paths relative to the working
#    directory instead of to the manifest, and prepare then cannot find the files.
$NICE jamflow synth-data --out "$PWD/corpus" --num_clips 3000 --festival_share 0.8 --seed 0 --workers "$WORKERS"

# 2. features: mel + espeak phoneme tokens (the small preset's tokenizer) + normalised motion
$NICE jamflow prepare --manifest corpus/manifest.jsonl --out corpus/cache_phoneme --tokenizer phoneme --workers "$WORKERS"

# 2b. phoneme durations by forced alignment (the YAML's data.durations: each frame is shown its phoneme)
$NICE jamflow align --cache corpus/cache_phoneme --workers "$WORKERS"
