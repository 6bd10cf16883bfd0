#!/usr/bin/env bash
# Rebuilds the shipped style models in models/ from Debian-package audio: the content corpus
# (tools/make_corpus.py), the style clips (rtst/testing/clips.py), then one `rtst distill` per
# model. Checkpoints and reports stay in the work folder; models/ gets NAME.onnx + NAME.golden.npz.
#   bash tools/train_models.sh [WORK_DIR] [MODEL ...]     (default /tmp/rtst-train, all models)
# Each model takes about 15 min on 2 CPU cores with --threads 1 (two run side by side); a run that was
# cut off resumes from its checkpoint (--resume) when the script is run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh train,bench
work="${1:-/tmp/rtst-train}"
shift || true
mkdir -p "$work/models"
[ -f "$work/corpus/manifest.csv" ] || .venv/bin/python tools/make_corpus.py --out "$work/corpus" --minutes 20
[ -f "$work/styles/organ_style.wav" ] || .venv/bin/python -m rtst.testing.clips --write "$work/styles"

FLUID="MIDI written by rtst/testing/midi.py, rendered by fluidsynth with FluidR3_GM (fluid-soundfont-gm, MIT)"
BELLS="sound-theme-freedesktop: alarm-clock-elapsed.oga (Tim/corsica_s, CC-BY-SA-3.0), complete.oga and bell.oga (Dr. Richard Boulanger et al, CC-BY-3.0)"
train() {  # name style licence [extra rtst distill options]
  local name="$1" style="$2" licence="$3"
  shift 3
  local resume=()
  [ -f "$work/models/$name.onnx.ckpt" ] && resume=(--resume)
  .venv/bin/rtst distill --style "$work/styles/$style.wav" --content "$work/corpus/train" \
    --output "$work/models/$name.onnx" --name "$name" --threads 1 --quiet "${resume[@]}" \
    --report "$work/models/$name.json" --style-licence "$licence" "$@" > "$work/models/$name.log" 2>&1
  cp "$work/models/$name.onnx" "$work/models/$name.golden.npz" models/
  # the style clip ships beside its model (the quality panel measures timbre against it)
  .venv/bin/python -c "import soundfile as sf, sys; d, r = sf.read(sys.argv[1]); sf.write(sys.argv[2], d, r, format='FLAC')" \
    "$work/styles/$style.wav" "models/$name.style.flac"
  tail -n 1 "$work/models/$name.log"
}
selected=("$@")
run() { if [ ${#selected[@]} -eq 0 ] || [[ " ${selected[*]} " == *" $1 "* ]]; then train "$@"; fi; }

run cello cello_style "cello, GM program 42, $FLUID" &
run bells bells_style "$BELLS" &
wait
run organ organ_style "church organ, GM program 19, $FLUID" &
run cello-ll cello_style "cello, GM program 42, $FLUID" --n-fft 256 --hop-length 64 --segment-frames 256 \
  --dilation 4 --channels 128 --dilations 1 3 9 27 &
wait
