"""tools/make_corpus.py: the student's content corpus (train / heldout split by source)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "make_corpus.py"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MIDI_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
ALSA_DIR = Path("/usr/share/sounds/alsa")


def _missing() -> list[str]:
    missing = [exe for exe in ("fluidsynth", "espeak-ng", "text2wave") if shutil.which(exe) is None]
    missing += [str(p) for p in (SOUNDFONT, MIDI_DIR / "busy_schedule.mid", ALSA_DIR / "Rear_Left.wav")
                if not p.is_file()]
    return missing


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.skip("make_corpus.py needs " + ", ".join(missing))
    out = tmp_path_factory.mktemp("corpus")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--minutes", "0.5",
                           "--seed", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return out, rows


def test_wavs_readable_48k_mono_not_silent(corpus):
    import soundfile as sf

    out, rows = corpus
    for split in ("train", "heldout"):
        files = sorted((out / split).glob("*.wav"))
        assert files, f"no {split} clips"
        for path in files:
            info = sf.info(str(path))
            assert (info.samplerate, info.channels, info.subtype) == (48000, 1, "PCM_16"), path
            assert 1.0 <= info.duration <= 8.05, (path, info.duration)
            x, _ = sf.read(str(path))
            peak_db = 20 * np.log10(np.max(np.abs(x)))
            assert -12.5 <= peak_db <= -0.9, (path, peak_db)
            assert np.sqrt(np.mean(x ** 2)) > 1e-3, f"{path} is near-silent"
    assert {r["file"] for r in rows} == {f"{p.parent.name}/{p.name}" for p in out.glob("*/*.wav")}


def test_records_and_split_by_source(corpus):
    out, rows = corpus
    assert (out / "SOURCES.md").is_file() and "openttd-openmsx" in (out / "SOURCES.md").read_text()
    splits = {}
    for row in rows:
        splits.setdefault((row["kind"], row["source"]), set()).add(row["split"])
    shared = [source for source, where in splits.items() if len(where) > 1]
    assert not shared, f"sources in both splits: {shared}"
    assert {r["kind"] for r in rows if r["split"] == "train"} == {"espeak", "festival", "midi", "melody"}
    assert {r["kind"] for r in rows if r["split"] == "heldout"} == {"espeak", "midi", "melody", "alsa"}
    assert all(r["split"] == "heldout" for r in rows if r["kind"] == "alsa")
    assert all(r["split"] == "heldout" for r in rows if r["source"] == "busy_schedule.mid")
    # the quality panel's festival voices (rtst/testing/panel.py) never reach the corpus
    assert not {r["source"] for r in rows} & {"voice_kal_diphone", "voice_cmu_us_slt_arctic_hts"}


def test_bad_argument_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--minutes", "-1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not list(tmp_path.iterdir())
