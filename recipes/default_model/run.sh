#!/usr/bin/env bash
# Reproduce the default model from nothing: synth-data -> prepare -> align -> train -> export (fp16)
# -> fit-durations -> eval -> demo.
#
#   recipes/default_model/run.sh [WORK] [train overrides...]
#   recipes/default_model/run.sh /work/runs optim.total_updates=20000 data.max_frames=12000   # a GPU
#
# WORK (default runs/default_model) receives everything: corpus/, train_run/, export/, eval_*/, demo/.
# Every step resumes: synth-data and prepare skip finished clips, train continues from its latest
# checkpoint. Environment: WORKERS (default 1), NICE (default "nice -n 19"), NFE (16), SAMPLES (3 seeds
# per eval clip: one seed on 20 clips is a noisy figure), EVAL_STEPS (tts,talk,animate,dub), SKIP_TRAIN=1
# to export/evaluate the run as it stands.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
NFE="${NFE:-16}"
SAMPLES="${SAMPLES:-3}"
EVAL_STEPS="${EVAL_STEPS:-tts,talk,animate,dub}"

# 1-2b. corpus, features and phoneme durations (corpus.sh)
WORKERS="$WORKERS" NICE="$NICE" bash "$RECIPE/corpus.sh"

# 3. train the small preset on every task (--resume starts fresh when there is no checkpoint yet)
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $NICE jamflow train --config "$RECIPE/small_cpu.yaml" --resume "$@"
fi

# 4. export the EMA weights in fp16 (the copy that ships, <= 60 MB; loaded as fp32)
jamflow export --checkpoint train_run --out export --dtype fp16

# 4b. fit the phoneme duration predictor on the aligned durations and add it to the export (~3 min)
$NICE jamflow fit-durations --cache corpus/cache_phoneme --checkpoint export --out export

# 4c. text positions restart past the longest training transcript (docs/model.md; 77 tokens for the shipped model)
python3 "$RECIPE/helpers.py" text-window corpus/cache_phoneme export

# 5. evaluation on held-out sentences. Seen festival voices (10 + 10 clips): every task, each clip
#    prompted by another clip of its voice. The held-out voice (10 clips): tts zero-shot, each prompted
#    by another 3-5 s clip of that voice from the whole corpus (the issue's zero-shot setting).
python3 "$RECIPE/helpers.py" eval-subset corpus/manifest.jsonl corpus/eval_seen.jsonl \
  --voices festival:slt_hts=10,festival:kal_diphone=10
python3 "$RECIPE/helpers.py" eval-subset corpus/manifest.jsonl corpus/eval_heldout.jsonl \
  --voices festival:ked_diphone=10
python3 "$RECIPE/helpers.py" mean-motion corpus/eval_seen.jsonl baseline_mean_motion
for task in ${EVAL_STEPS//,/ }; do
  baseline=()  # animate is judged against the mean-motion baseline (LVE <= 50% of it)
  [ "$task" = animate ] && baseline=(--gen mean_motion=baseline_mean_motion/manifest.jsonl)
  $NICE jamflow eval --ref corpus/eval_seen.jsonl --checkpoint export --task "$task" \
    --nfe_step "$NFE" --seed 0 --samples "$SAMPLES" --out "eval_$task" "${baseline[@]}"
done
$NICE jamflow eval --ref corpus/eval_heldout.jsonl --checkpoint export --task tts \
  --prompts corpus/manifest.jsonl --prompt_seconds 3,5 --nfe_step "$NFE" --seed 0 --samples "$SAMPLES" \
  --out eval_tts_heldout_voice

# 6. something to look at and listen to: a demo mp4 + wav, and PNG frames of it
jamflow demo --ckpt export --nfe_step "$NFE" --seed 0 --output_dir demo
jamflow render --motion demo/demo.npy --out demo/frames --png --every 10
echo "done: $(pwd)/export (model), eval_*/report.md, demo/"
