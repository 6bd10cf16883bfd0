#!/usr/bin/env bash
# Sets up rtst and runs it: the live effect on the default sound device (with the live view when
# there is a display), or, on a machine without one, the bundled demo clip through the same
# streaming engine with the default preset's style model (written to rtst-demo-out.wav; the last
# line names the model and the file).
#   bash tools/quickstart.sh [rtst live options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh view,control
view=()
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then view=(--view); fi
if .venv/bin/python - <<'PY'
import sys
from rtst.errors import DeviceError
from rtst.io.devices import resolve_device
try:
    resolve_device(None, "input"), resolve_device(None, "output")
except DeviceError as exc:
    print(f"quickstart: {exc}")
    sys.exit(1)
PY
then
  exec .venv/bin/rtst live "${view[@]}" "$@"
else
  # the default preset's style, named here so the last line can say what was rendered and where
  model="$(.venv/bin/python -c 'from rtst.presets import DEFAULT_PRESET, PRESETS; print(PRESETS[DEFAULT_PRESET].model)')"
  out="$PWD/rtst-demo-out.wav"
  .venv/bin/rtst demo --model "$model" --output "$out" --report "$PWD/rtst-demo-report.json"
  echo "quickstart: rendered the demo with the '$model' style: $out"
fi
