#!/usr/bin/env bash
# Sets up (system packages, .venv with the dev, train, bench, view and control extras: the teacher's
# tests need torch, the reference comparisons librosa/scipy, the labelled-set tests espeak-ng and
# fluidsynth, the view's tests Qt, the rig's tests mido/python-rtmidi/python-osc)
# and runs the whole test suite, including the tests that play real audio through a JACK server
# with the dummy driver (started by the tests).
#   bash tools/test.sh [pytest args]
# With no pytest args the real-audio tests run in their own pytest process after the rest: their
# JACK probe client runs Python callbacks in the pytest process, and a process that has collected
# the whole suite was measured to make it late (a false xrun) where a lean one is not.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev,train,bench,view,control
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then
  exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest --ignore tests/test_live_jack.py "$@"
exec .venv/bin/python -m pytest tests/test_live_jack.py "$@"
