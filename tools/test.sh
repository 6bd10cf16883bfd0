#!/usr/bin/env bash
# Sets up (system packages, .venv with the dev extra) and runs the whole test suite, including the
# tests that play real audio through a JACK server with the dummy driver (started by the tests).
#   bash tools/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
exec .venv/bin/python -m pytest "$@"
