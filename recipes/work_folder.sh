# The start every recipe's run.sh shares, sourced right after its `set -euo pipefail`:
#   source "$(dirname "${BASH_SOURCE[0]}")/../work_folder.sh"
# RECIPE = the recipe's folder; the work folder is run.sh's first argument (default runs/<recipe name>),
# made, entered and printed, and shifted off so "$@" holds the train overrides; WORKERS (default 1) and
# NICE (default "nice -n 19") take their defaults. `shipped_lips_model` prints the packaged lips model's
# folder: the model every recipe's training starts from (the default whole-face model is stored over it).
RECIPE="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
WORK="${1:-runs/$(basename "$RECIPE")}"
shift || true
WORKERS="${WORKERS:-1}"
NICE="${NICE:-nice -n 19}"

shipped_lips_model() {
  python3 -c 'from jamflow.infer.api import LIPS_MODEL_DIR; print(LIPS_MODEL_DIR)'
}

mkdir -p "$WORK"
cd "$WORK"
echo "work folder: $(pwd)"
