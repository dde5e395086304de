#!/usr/bin/env bash
# The harmonic-plus-noise vocoder (jamflow.vocoder.harmonic) trained on the voices recipe's many-speaker
# corpus, without a GPU, then scored against HiFi-GAN and Griffin-Lim.
#   corpus -> features (waveform, mel, WORLD F0) -> stage 1 (gated pulses) -> stage 2 (continuous F0)
#   -> stage 3 (adversarial) -> export -> bench
#
#   recipes/harmonic_vocoder/run.sh [WORK]
#
# Environment: WORKERS (default 1), NICE (default "nice -n 19"). Needs the corpus extra (pip install -e
# ".[corpus]": pyworld, hibari-tts) and Debian's pocketsphinx-testdata (the benchmark's LibriVox clips).
# Every jamflow command takes the result as --vocoder WORK/harmonic_vocoder.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"

# 1. the voices recipe's corpus, by the same command (a shared work folder reuses it)
$NICE jamflow synth-data --out "$PWD/corpus" --num_clips 2400 --num_sentences 12000 \
  --voices espeak,festival,hibari --voice_shares festival=0.4,hibari=0.4,espeak=0.2 \
  --augment_share 0.6 --warps_per_voice 16 --seed 7 --workers "$WORKERS"

# 2. features of the train and test clips (~1 min on 2 cores)
for split in train test; do
  [ -f "harmonic_data/$split.pt" ] || $NICE python3 "$RECIPE/harmonic.py" prep --manifest corpus/manifest.jsonl \
    --split "$split" --out "harmonic_data/$split.pt" --workers 2
done

# 3. stage 1: pulses silenced where the recording is unvoiced, 4000 updates of a 9000-update cosine
#    (~20 min on 2 cores); stage 2: the continuous F0 contour the vocoder decodes with, 5000 updates (~25 min)
$NICE python3 "$RECIPE/harmonic.py" train --data harmonic_data/train.pt --val harmonic_data/test.pt \
  --out harmonic_stage1 --gated --steps 4000 --schedule_steps 9000 --lr 1e-3 --warmup 200
$NICE python3 "$RECIPE/harmonic.py" train --data harmonic_data/train.pt --val harmonic_data/test.pt \
  --out harmonic_stage2 --init harmonic_stage1 --steps 5000 --lr 5e-4 --warmup 100
python3 "$RECIPE/harmonic.py" export --run harmonic_stage2 --out harmonic_stage2_vocoder

# 3b. stage 3: adversarial fine-tune of stage 2's export against three spectrogram discriminators,
#     2000 updates (~3 s each on one core), then its EMA exported
$NICE python3 "$RECIPE/adversarial.py" --data harmonic_data/train.pt --init harmonic_stage2_vocoder \
  --out harmonic_stage3 --steps 2000
python3 "$RECIPE/harmonic.py" export --run harmonic_stage3 --out harmonic_vocoder

# 4. resynthesis of real (LibriVox) and unseen (flite) speech and of the shipped model's speech
python3 "$RECIPE/../voices_model/helpers.py" unseen-sets unseen
python3 "$RECIPE/../../benchmarks/bench_vocoder.py" --harmonic harmonic_vocoder --manifest unseen/flite/manifest.jsonl \
  --manifest corpus/manifest.jsonl --clips 12 --model 8 --hifigan_bf16 | tee bench_vocoder_harmonic.md
