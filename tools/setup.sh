#!/usr/bin/env bash
# Installs everything rtst needs on a fresh Debian machine with only Python:
# system packages (PortAudio, JACK) and a virtual environment in .venv with rtst and its extras.
#   bash tools/setup.sh [EXTRAS]      e.g. bash tools/setup.sh dev   (default: no extras)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

apt_packages=(libportaudio2 libjack-jackd2-0 jackd2 libsndfile1)
# the benchmarks' real recordings and renders, and the labelled set (benchmarks/README.md); festival voices:
# kal and slt are the quality panel's (evaluation only), kdl/ital/itap are for training corpora
case ",$extras," in *,bench,*) apt_packages+=(alsa-utils espeak-ng fluidsynth fluid-soundfont-gm musescore-general-soundfont-small openttd-openmsx sound-theme-freedesktop
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k festvox-itapc16k) ;; esac
# the tests' counter of C-level allocations on the audio thread (rtst/testing/rt_malloc_count.c) is compiled
case ",$extras," in *,dev,*) apt_packages+=(gcc libc6-dev) ;; esac
# MIDI control: python-rtmidi's wheel links ALSA (it bundles its own JACK client library)
case ",$extras," in *,control,*) apt_packages+=(libasound2) ;; esac
# the view: the libraries Qt's wheels load offscreen and a font to draw with, and those of its X11
# (xcb) platform plugin for a desktop
case ",$extras," in *,view,*) apt_packages+=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 fonts-dejavu-core
  libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0) ;; esac
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "rtst setup: installing system packages: ${missing[*]}"
  # jackd2 asks whether to enable realtime limits; answer for it so the install never prompts
  echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "rtst setup: creating .venv"
  "$python_bin" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
spec="."
[ -n "$extras" ] && spec=".[$extras]"
echo "rtst setup: installing rtst${extras:+ with extras [$extras]} into .venv"
.venv/bin/python -m pip install -q -e "$spec" > .venv/pip-install.log 2>&1 \
  || { cat .venv/pip-install.log >&2; echo "rtst setup: pip install failed" >&2; exit 1; }
.venv/bin/python -c "import rtst, numba, onnxruntime, sounddevice, soundfile" \
  || { echo "rtst setup: install check failed" >&2; exit 1; }
