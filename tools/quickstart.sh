#!/usr/bin/env bash
# Sets up rtst and runs it: the live effect on the default sound device (with the live view when
# there is a display), or, on a machine without one, the bundled demo clip through the same
# streaming engine (written to rtst-demo-out.wav).
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
  exec .venv/bin/rtst demo --output rtst-demo-out.wav --report rtst-demo-report.json
fi
