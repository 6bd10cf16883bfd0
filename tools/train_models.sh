#!/usr/bin/env bash
# Rebuilds the shipped style models in models/ (NAME.onnx, NAME.golden.npz, NAME.style.flac): each
# style clip is rendered from the paired benchmark's style phrase by fluidsynth, then measured into
# a re-synthesising model (tools/build_styles.py). A few seconds per model on one core.
#   bash tools/train_models.sh [MODEL ...]        (default: all of tools/build_styles.py's SHIPPED)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh train,bench
.venv/bin/python tools/build_styles.py "$@"
