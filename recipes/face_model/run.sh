#!/usr/bin/env bash
# The whole-face model (the package's default): the shipped `lips` model fine-tuned into the `full`
# motion spec on the default model's corpus, whose eyes, brows and head follow the speech
# (motion.prosody), in three rounds -> export (fp16) -> packaged on the lips model's speech side
# (package.py) -> evaluation of the face (talk without a reference motion, animate).
#
#   recipes/face_model/run.sh [WORK] [train overrides...]
#   recipes/face_model/run.sh /work/runs mixed_precision=bf16 data.max_frames=12000 optim.total_updates=3000  # a GPU
#
# A corpus made before motion.prosody existed keeps its audio: REMAKE=1 makes its motion again and
# prepares the features afresh. Every step resumes. Environment: WORKERS (default 1), NICE (default
# "nice -n 19"), SAMPLES (3 seeds per eval clip), SKIP_TRAIN=1 to export and evaluate the run as it stands.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
SAMPLES="${SAMPLES:-3}"
BASE="$(shipped_lips_model)"
echo "initialised from: $BASE"

if [ "${REMAKE:-0}" = 1 ]; then
  $NICE jamflow synth-data --out "$PWD/corpus" --num_clips 3000 --festival_share 0.8 --seed 0 \
    --workers "$WORKERS" --remake_motion
  rm -rf corpus/cache_phoneme
fi
# the default model's corpus (its steps 1-2b); a fresh one already has the speech-following motion
WORKERS="$WORKERS" NICE="$NICE" bash "$RECIPE/../default_model/corpus.sh"

# three rounds: 4000 updates from the shipped model, then twice 5000 more from the previous round's
# export with a fresh AdamW and a warm restart of the learning rate (2e-4); `export` is the last round's
init="$BASE"
for round in 1 2 3; do
  run=face_run_$round
  more=(run_dir=$run)
  [ "$round" = 1 ] || more+=(seed=$((886 + round)) optim.lr=2e-4 optim.warmup_updates=50 optim.total_updates=5000)
  if [ "${SKIP_TRAIN:-0}" != 1 ]; then
    $NICE jamflow train --config "$RECIPE/full_spec_cpu.yaml" --resume model.init_from="$init" "${more[@]}" "$@"
  fi
  out=$([ "$round" = 3 ] && echo export || echo export_$round)
  jamflow export --checkpoint $run --out $out --dtype fp16
  $NICE jamflow fit-durations --cache corpus/cache_phoneme --checkpoint $out --out $out
  init=$out
done
# what ships: the export's motion stream on the lips model's Audio-DiT (frozen in training) and duration
# predictor, standalone here; `package.py export <lips> src/jamflow/assets/model` writes the package's
# form, stored over the lips model (the same tensors)
python3 "$RECIPE/package.py" export "$BASE" face --standalone

# the face on the seen-voice set (recipes/default_model/helpers.py writes it): talk without a reference
# motion (the model's own eyes, brows and head) and animate (speech in), against the mean-motion baseline
python3 "$RECIPE/../default_model/helpers.py" eval-subset corpus/manifest.jsonl corpus/eval_seen.jsonl \
  --voices festival:slt_hts=10,festival:kal_diphone=10
python3 "$RECIPE/../default_model/helpers.py" mean-motion corpus/eval_seen.jsonl baseline_mean_motion
E="--ref corpus/eval_seen.jsonl --nfe_step 16 --seed 0 --samples $SAMPLES --vocoder griffinlim"
for model in face "$BASE"; do
  tag=$([ "$model" = face ] && echo full || echo lips)
  $NICE jamflow eval $E --checkpoint "$model" --task talk --no_ref_motion --metrics sync,motion \
    --out "eval_talk_noref_$tag"
  $NICE jamflow eval $E --checkpoint "$model" --task animate --metrics sync,motion \
    --gen mean_motion=baseline_mean_motion/manifest.jsonl --out "eval_animate_$tag"
done
$NICE jamflow eval $E --checkpoint face --task talk --metrics asr,speaker,sync --out eval_talk_asr_full

# something to look at: the package's main job on this model, and a contact sheet of it
jamflow demo --ckpt face --output_dir demo
jamflow render --motion demo/demo.npy --out demo/demo_strip.png --every 3 --size 160
echo "done: $(pwd)/face (model), eval_*/report.md, demo/"
