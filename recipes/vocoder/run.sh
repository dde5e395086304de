#!/usr/bin/env bash
# A Vocos-size vocoder distilled by regression from the shipped HiFi-GAN bridge on the voices recipe's
# many-speaker corpus, then scored against HiFi-GAN and Griffin-Lim (an experiment: it does not ship).
#   corpus -> teacher targets (HiFi-GAN decodes of 600 train clips' mels) -> distill.py -> bench
#
#   recipes/vocoder/run.sh [WORK] [distill.py flags...]
#   recipes/vocoder/run.sh /work/runs --device cuda --updates 40000     # a GPU
#
# Every step resumes (the corpus and the targets; training restarts). Environment: WORKERS (default 1),
# NICE (default "nice -n 19"). Needs the corpus extra (pip install -e ".[corpus]": pyworld, hibari-tts)
# and Debian's pocketsphinx-testdata (the LibriVox clips of the benchmark). Every jamflow command takes
# the result as --vocoder vocoder.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"

# 1. the voices recipe's corpus, by the same command (a shared work folder reuses it): festival, hibari's
#    bundled neural voice, espeak-ng, 60% of clips re-spoken by WORLD-warped speakers
$NICE jamflow synth-data --out "$PWD/corpus" --num_clips 2400 --num_sentences 12000 \
  --voices espeak,festival,hibari --voice_shares festival=0.4,hibari=0.4,espeak=0.2 \
  --augment_share 0.6 --warps_per_voice 16 --seed 7 --workers "$WORKERS"

# 2. 600 train clips decoded by the teacher (~10 min), then 5500 updates of the student (~63 min on 2 CPU cores)
$NICE python3 "$RECIPE/distill.py" --manifest corpus/manifest.jsonl --out vocoder --clips 600 --teacher hifigan "$@"

# 3. resynthesis of real (LibriVox) and unseen (flite) speech and of the shipped model's speech
python3 "$RECIPE/../voices_model/helpers.py" unseen-sets unseen
python3 "$RECIPE/../../benchmarks/bench_vocoder.py" --vocos vocoder --manifest unseen/flite/manifest.jsonl \
  --manifest corpus/manifest.jsonl --clips 12 --model 8 | tee bench_vocoder.md
