#!/usr/bin/env python3
"""Train the paired timbre benchmark's instrument classifier: benchmarks/results/timbre_classifier.npz.

Classes: the 11 General-MIDI instruments of rtst/testing/melodies.py (flute, trumpet, clarinet,
violin, alto_sax, cello, organ, bells, choir, voice_oohs, guitar) and ``speech``.

Training material, none of it benchmark material (no benchmark melody, no style clip, no
evaluation voice):

* instruments: seeded random melodies (:func:`rtst.testing.melodies.random_melody`, seeds 1000+)
  rendered by fluidsynth with FluidR3_GM (fluid-soundfont-gm) and with MuseScore_General_Lite
  (musescore-general-soundfont-small);
* speech: festival ``voice_ked_diphone`` (festvox-kdlpc16k) and the Italian diphone voices
  (festvox-italp16k, festvox-itapc16k) speaking our own sentences, and espeak-ng voices
  (English accents, German, French, Spanish, Dutch, with its voice variants). Festival's kal voice,
  slt voice and alsa-utils' recordings are evaluation material and never trained on.

Features: :func:`rtst.measure.timbre.window_features` (level-normalised log-mel statistics over
1 s windows every 0.5 s: 56 band means (30 Hz - 7.8 kHz), standard deviations, mean |deltas|, active
fraction), of every training clip and of a copy with a noise floor 30-50 dB down.
Model: an MLP (169 -> 128 -> 12, ReLU, dropout), trained with torch (AdamW), stored as numpy
weights; inference (:class:`rtst.measure.timbre.TimbreClassifier`) is pure numpy.

Held-out accuracy (printed and written to timbre_classifier.json beside the npz):

* ``heldout_melodies``: other seeded random melodies (seeds 5000+), each sound font;
* ``benchmark_melodies``: the benchmark's own four melodies by every instrument (FluidR3_GM), never
  trained on;
* ``heldout_soundfont``: a second model trained on FluidR3_GM alone, tested on MuseScore renders
  (how far the features carry to samples they never heard; the shipped model trains on both);
* ``real_speech``: alsa-utils' recorded announcements and festival's kal voice (class speech).

Window accuracy is per 1 s window; clip accuracy is the argmax of the mean posterior of a clip.

    python tools/train_timbre_classifier.py [--out benchmarks/results/timbre_classifier.npz]
        [--train-melodies 24] [--test-melodies 6] [--epochs 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.errors import ParameterError, RtstError
from rtst.measure.bench import git_revision, version_of
from rtst.measure.timbre import FEATURE_CONFIG, TimbreClassifier, level_normalise, window_features
from rtst.testing import melodies as mel
from rtst.testing.signals import ALSA_DIR, SAMPLE_RATE, _read_mono, _to_rate, _trim_silence, cache_dir

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "timbre_classifier.npz"
CLASSES = list(mel.INSTRUMENTS) + ["speech"]
TRAIN_SEED0, TEST_SEED0 = 1000, 5000

# Our own training sentences (the quality panel's and bench_timbre's sentences are not among them).
SENTENCES = [
    "A small boat drifted slowly past the lighthouse at dawn.",
    "Please bring the green folder to the meeting on Thursday.",
    "The children laughed as the puppy chased its own tail.",
    "Seven hundred people waited outside the theatre in the rain.",
    "My grandfather planted apple trees behind the old barn.",
    "Turn left at the bakery, then walk two blocks north.",
    "Winter arrived early this year, and the lake froze in November.",
    "She measured the flour carefully before adding the eggs.",
    "Nobody expected the train to be forty minutes late again.",
    "The museum opens at nine and closes at half past five.",
    "Quiet voices drifted up from the courtyard below my window.",
    "He fixed the bicycle with a spoon and a piece of wire.",
]
FESTIVAL_TRAIN_VOICES = {"voice_ked_diphone": "festvox-kdlpc16k", "voice_lp_diphone": "festvox-italp16k",
                         "voice_pc_diphone": "festvox-itapc16k"}
ESPEAK_VOICES = ["en-gb", "en-us", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp", "en-us+f3", "en-gb+f2",
                 "en-us+m3", "en+f4", "en+m7", "de", "fr", "es", "nl", "de+f2", "fr+m4"]
ESPEAK_SPEEDS = [140, 175, 200]
# evaluation speech, never trained on
KAL_TEXTS = ["The old keeper walked down to the harbour. Every evening he counted the boats.",
             "Bright lanterns swayed along the narrow street while the band played on."]
ALSA_SPEECH = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav", "Rear_Center.wav", "Rear_Left.wav",
               "Rear_Right.wav", "Side_Left.wav", "Side_Right.wav"]


# --------------------------------------------------------------------------------------------
# Material
# --------------------------------------------------------------------------------------------


def _phrases(instrument: str, seeds, soundfont: Path) -> list[np.ndarray]:
    """The seeded random melodies by ``instrument``, rendered in one fluidsynth call (concatenated
    with 1 s gaps) and cut back into one signal per melody."""
    melodies = [mel.random_melody(s) for s in seeds]
    whole = mel.concatenate(melodies, gap_s=1.0)
    events = mel.melody_events(whole, mel.INSTRUMENTS[instrument])
    x = mel.render_events_cached(events, whole.end_s + 1.0, f"train_{instrument}", soundfont)
    out, t = [], 0.0
    for m in melodies:
        a, b = int(t * SAMPLE_RATE), int((t + m.end_s + mel.RELEASE_S) * SAMPLE_RATE)
        out.append(x[a:b])
        t += m.end_s + 1.0
    return out


def _festival(voice: str, text: str, package: str) -> np.ndarray:
    import hashlib

    key = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:12]
    path = cache_dir() / f"timbre_speech_{voice}_{key}.wav"
    if not path.is_file():
        exe = shutil.which("text2wave")
        if exe is None:
            raise ParameterError("text2wave missing; install Debian package festival")
        with tempfile.TemporaryDirectory(prefix="rtst-timbre-") as tmp:
            txt, wav = Path(tmp) / "t.txt", Path(tmp) / "o.wav"
            txt.write_text(text + "\n")
            proc = subprocess.run([exe, "-eval", f"({voice})", "-o", str(wav), str(txt)], capture_output=True,
                                  text=True)
            # text2wave exits 0 even when the voice is unknown; it then prints a SIOD error
            if proc.returncode != 0 or "error" in proc.stderr.lower() or not wav.is_file():
                raise ParameterError(f"festival voice {voice} failed; install Debian package {package}")
            shutil.copyfile(wav, path)
    return _trim_silence(_to_rate(*_read_mono(path)))


def _espeak(voice: str, speed: int, text: str) -> np.ndarray:
    import hashlib

    key = hashlib.sha1(f"{voice}\n{speed}\n{text}".encode()).hexdigest()[:12]
    path = cache_dir() / f"timbre_espeak_{key}.wav"
    if not path.is_file():
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise ParameterError("espeak-ng missing; install Debian package espeak-ng")
        tmp = path.with_name(path.name + ".tmp.wav")
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(tmp), text], check=True, capture_output=True)
        tmp.replace(path)
    return _trim_silence(_to_rate(*_read_mono(path)))


def speech_train() -> list[np.ndarray]:
    clips = []
    for k, (voice, package) in enumerate(FESTIVAL_TRAIN_VOICES.items()):
        texts = SENTENCES if voice == "voice_ked_diphone" else SENTENCES[k::3]
        clips += [_festival(voice, t, package) for t in texts]
    for k, voice in enumerate(ESPEAK_VOICES):
        for j in range(2):
            text = SENTENCES[(2 * k + j) % len(SENTENCES)]
            clips.append(_espeak(voice, ESPEAK_SPEEDS[(k + j) % len(ESPEAK_SPEEDS)], text))
    return clips


def speech_real() -> dict[str, np.ndarray]:
    """Held-out speech: alsa-utils' recordings and festival's kal voice."""
    clips = {}
    for name in ALSA_SPEECH:
        if (ALSA_DIR / name).is_file():
            clips[f"alsa/{name}"] = _trim_silence(_to_rate(*_read_mono(ALSA_DIR / name)))
    for k, text in enumerate(KAL_TEXTS):
        clips[f"festival_kal/{k}"] = _festival("voice_kal_diphone", text, "festvox-kallpc16k")
    return clips


def _noisy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` with a steady noise floor 30-50 dB below its RMS, coloured between white and brown:
    the renders and the TTS voices are noiseless, a recording (and an effect's output) is not."""
    noise = rng.standard_normal(x.size)
    tilt = rng.uniform(0.0, 0.98)
    noise = np.asarray(_one_pole(noise, tilt))
    rms_x = np.sqrt(np.mean(x ** 2)) + 1e-12
    snr_db = rng.uniform(30.0, 50.0)
    return x + noise * rms_x / (np.sqrt(np.mean(noise ** 2)) + 1e-12) * 10 ** (-snr_db / 20)


def _one_pole(x: np.ndarray, a: float) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0 - a], [1.0, -a], x)


def _features(clips, augment: bool = False, seed: int = 0) -> list[np.ndarray]:
    """Window features of each clip; ``augment`` adds those of a noisy copy (:func:`_noisy`)."""
    rng = np.random.default_rng(seed)
    out = []
    for x in clips:
        x = level_normalise(x, SAMPLE_RATE)
        out.append(window_features(x, SAMPLE_RATE))
        if augment:
            out.append(window_features(_noisy(x, rng), SAMPLE_RATE))
    return out


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def train_mlp(x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int, seed: int, hidden: int = 128) -> dict:
    """Softmax MLP by torch; returns numpy weights with the feature standardisation."""
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
    xt = torch.tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long)
    # classes are balanced by weight, as speech and instruments have different amounts of windows
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Dropout(0.3), torch.nn.Linear(hidden, n_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=gen).split(256):
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for k, layer in enumerate(layers):
        weights[f"w{k}"] = layer.weight.detach().numpy().T.astype(np.float32)
        weights[f"b{k}"] = layer.bias.detach().numpy().astype(np.float32)
    return weights


def save(path: Path, weights: dict, classes: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, classes=np.array(classes), config=np.array(json.dumps(FEATURE_CONFIG)), **weights)


def evaluate(clf: TimbreClassifier, labelled: dict) -> dict:
    """Window and clip accuracy of ``{set: [(label, features)]}``, with the confusions."""
    out = {}
    for name, items in labelled.items():
        win_hits = win_n = clip_hits = 0
        confusions: dict[str, int] = {}
        for label, feats in items:
            if len(feats) == 0:
                continue
            p = clf.predict_proba(feats)
            win_hits += int(np.sum(p.argmax(axis=1) == clf.index(label)))
            win_n += len(p)
            top = clf.classes[int(p.mean(axis=0).argmax())]
            clip_hits += top == label
            if top != label:
                confusions[f"{label}->{top}"] = confusions.get(f"{label}->{top}", 0) + 1
        n_clips = sum(len(f) > 0 for _, f in items)
        out[name] = {"window_accuracy": win_hits / max(win_n, 1), "clip_accuracy": clip_hits / max(n_clips, 1),
                     "n_windows": win_n, "n_clips": n_clips,
                     "confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1]))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="npz to write (a .json of accuracies beside it)")
    parser.add_argument("--train-melodies", type=int, default=24, help="random melodies per instrument and sound font")
    parser.add_argument("--test-melodies", type=int, default=6, help="held-out random melodies per instrument")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
        started = time.perf_counter()
        soundfonts = {"FluidR3_GM": mel.SOUNDFONT, "MuseScore_General_Lite": mel.MUSESCORE_SOUNDFONT}
        for sf in soundfonts.values():
            missing = mel.missing_tools(sf)
            if missing:
                raise ParameterError("missing " + ", ".join(missing))
        train_seeds = range(TRAIN_SEED0, TRAIN_SEED0 + args.train_melodies)
        test_seeds = range(TEST_SEED0, TEST_SEED0 + args.test_melodies)
        train = {sf: {} for sf in soundfonts}      # soundfont -> class -> [features]
        test = {sf: {} for sf in soundfonts}
        for sf_name, sf in soundfonts.items():
            for inst in mel.INSTRUMENTS:
                train[sf_name][inst] = _features(_phrases(inst, train_seeds, sf), augment=True,
                                                 seed=args.seed + mel.INSTRUMENTS[inst])
                test[sf_name][inst] = _features(_phrases(inst, test_seeds, sf))
            print(f"rendered {sf_name}: {time.perf_counter() - started:.0f} s", flush=True)
        speech = speech_train()
        # every fourth training-voice clip is held out (the same voices, mostly other sentences)
        speech_test = _features(speech[::4])
        speech_fit = _features([x for k, x in enumerate(speech) if k % 4], augment=True, seed=args.seed)
        bench = [(inst, window_features(mel.render_melody(m, inst).signal, SAMPLE_RATE))
                 for m in mel.MELODIES for inst in mel.INSTRUMENTS]
        real = {name: window_features(level_normalise(x, SAMPLE_RATE), SAMPLE_RATE) for name, x in speech_real().items()}
        print(f"features: {time.perf_counter() - started:.0f} s", flush=True)

        def stack(per_sf: list[str]):
            xs, ys = [], []
            for sf_name in per_sf:
                for inst, feats in train[sf_name].items():
                    for f in feats:
                        xs.append(f)
                        ys += [CLASSES.index(inst)] * len(f)
            for f in speech_fit:
                xs.append(f)
                ys += [CLASSES.index("speech")] * len(f)
            return np.concatenate(xs), np.asarray(ys)

        def labelled(sf_name):
            return [(inst, f) for inst, feats in test[sf_name].items() for f in feats]

        results = {}
        out = Path(args.out)
        with tempfile.TemporaryDirectory(prefix="rtst-clf-") as tmp:
            # the held-out sound font check: trained on FluidR3_GM only
            x, y = stack(["FluidR3_GM"])
            save(Path(tmp) / "fluid.npz", train_mlp(x, y, len(CLASSES), args.epochs, args.seed), CLASSES)
            clf = TimbreClassifier(Path(tmp) / "fluid.npz")
            results["trained_on_FluidR3_GM_only"] = evaluate(clf, {
                "heldout_melodies_FluidR3_GM": labelled("FluidR3_GM"),
                "heldout_soundfont_MuseScore_General_Lite": labelled("MuseScore_General_Lite"),
                "benchmark_melodies_FluidR3_GM": bench})
        x, y = stack(list(soundfonts))
        save(out, train_mlp(x, y, len(CLASSES), args.epochs, args.seed), CLASSES)
        clf = TimbreClassifier(out)
        results["shipped"] = evaluate(clf, {
            "heldout_melodies_FluidR3_GM": labelled("FluidR3_GM"),
            "heldout_melodies_MuseScore_General_Lite": labelled("MuseScore_General_Lite"),
            "benchmark_melodies_FluidR3_GM": bench,
            "heldout_sentences_training_voices": [("speech", f) for f in speech_test],
            "real_speech_alsa_and_festival_kal": [("speech", f) for f in real.values()]})
        real_top = {name: clf.classes[int(clf.predict_proba(f).mean(axis=0).argmax())] for name, f in real.items()}
        elapsed = time.perf_counter() - started
        report = {"classes": CLASSES, "feature_config": FEATURE_CONFIG, "n_train_windows": int(len(y)),
                  "train_melodies_per_instrument_and_soundfont": args.train_melodies,
                  "test_melodies": args.test_melodies, "epochs": args.epochs, "seed": args.seed,
                  "accuracy": results, "real_speech_top_class": real_top, "wall_s": round(elapsed, 1),
                  "rtst": __version__, "git": git_revision(), "python": platform.python_version(),
                  "numpy": np.__version__, "torch": version_of("torch")}
        out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        print()
        print(f"{'model':<28} {'test set':<42} {'windows':>8} {'clips':>7}  confusions (clips)")
        for model, sets in results.items():
            for name, r in sets.items():
                conf = ", ".join(f"{k} {v}" for k, v in list(r["confusions"].items())[:4])
                print(f"{model:<28} {name:<42} {r['window_accuracy']:8.1%} {r['clip_accuracy']:7.1%}  {conf}")
        print("real speech, top class: " + ", ".join(f"{k} {v}" for k, v in real_top.items()))
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB) and {out.with_suffix('.json')}; {elapsed:.0f} s")
        print(json.dumps({k: v for k, v in report.items() if k not in ("accuracy", "feature_config")}))
        return 0
    except RtstError as exc:
        print(f"train_timbre_classifier: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
