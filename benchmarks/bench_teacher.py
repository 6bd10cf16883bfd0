#!/usr/bin/env python3
"""The teacher: how far it moves the timbre towards the style, how much content it keeps, at what cost.

For each real content/style pair (rtst/testing/clips.py: recorded or synthetic speech and
rendered music as content; a rendered cello or organ and freedesktop bells as style), on the live
engine's STFT (48 kHz, n_fft 1024, hop 256, log1p magnitude), rows:

* ``passthrough``      the content unchanged (what the effect does with no style at all)
* ``random/noise``     Ulyanov's random 1-D conv descriptor (4096 x 11), L-BFGS from noise
* ``random/content``   the same descriptor, L-BFGS from the content (Grinstein 2018)
* ``random2d/content`` random 2-D CNN over the spectrogram image (32, 64 filters 3x3), from content
* ``wyse/content``     the descriptor trained on the labelled set (tools/make_labelled_set.py;
                       trained here if ``--wyse`` does not exist), from content

Columns: the row's own teacher objective (relative losses, :mod:`rtst.transfer.losses`), the style
distance under the random descriptor (one yardstick for all rows), the independent timbre distance
to the style source (Fréchet distance of MFCC statistics, :mod:`rtst.measure.style`) and its
change against passthrough, content retention (time-aligned loudness-envelope correlation with
the content) and the onset-envelope correlation, and wall time. Results are audio after offline
PGHI + fast Griffin-Lim, so the metrics judge what a listener would hear.

Target: the best setting cuts the timbre distance by >= 50 % against passthrough with
content retention >= 0.6.

    python benchmarks/bench_teacher.py [--iterations N] [--pairs K] [--rows a,b] [--json out.json] [--png out.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from rtst.testing import clips as teacher_clips
from rtst.measure.bench import git_revision, version_of
from rtst.testing.signals import cache_dir

from rtst import __version__
from rtst.config import StftConfig
from rtst.errors import ParameterError

ROWS = ("passthrough", "random/noise", "random/content", "random2d/content", "wyse/content")
TOOLS = Path(__file__).resolve().parents[1] / "tools"


def trained_descriptor(path: Path, stft_config: StftConfig, epochs: int) -> Path:
    """The Wyse checkpoint at ``path``, made (labelled set + training) if it is not there."""
    if path.is_file():
        return path
    import subprocess

    data = cache_dir() / "labelled-set"
    if not (data / "SOURCES.md").is_file():
        print(f"building the labelled set in {data} ...", flush=True)
        subprocess.run([sys.executable, str(TOOLS / "make_labelled_set.py"), "--out", str(data)], check=True)
    from rtst.transfer.train import TrainConfig, train_descriptor

    print(f"training the Wyse descriptor ({epochs} epochs) -> {path}", flush=True)
    train_descriptor(data, path, stft_config, config=TrainConfig(epochs=epochs), progress=sys.stderr)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="L-BFGS iterations per run (default 300)")
    parser.add_argument("--content-weight", type=float, default=None,
                        help="content weight of every optimised row (default: rtst's)")
    parser.add_argument("--pairs", type=int, default=3, help="how many of teacher_clips.pairs() to run (default 3)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {', '.join(ROWS)}")
    parser.add_argument("--wyse", default=str(cache_dir() / "wyse-descriptor.pt"),
                        help="trained descriptor checkpoint (made if missing)")
    parser.add_argument("--wyse-epochs", type=int, default=10, help="epochs when the checkpoint must be trained")
    parser.add_argument("--gla-iterations", type=int, default=100, help="fast Griffin-Lim iterations (default 100)")
    parser.add_argument("--json", default=None, help="write results as JSON here")
    parser.add_argument("--png", default=None, help="write a spectrogram grid (pairs x rows) here")
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")

    import torch

    from rtst.transfer import DEFAULT_CONTENT_WEIGHT
    from rtst.transfer.descriptors import load_descriptor
    from rtst.transfer.features import signal_features
    from rtst.transfer.losses import TeacherObjective
    from rtst.transfer.run import evaluate_result, make_descriptor
    from rtst.transfer.teacher import TeacherConfig, transfer

    stft_config = StftConfig()
    content_weight = DEFAULT_CONTENT_WEIGHT if args.content_weight is None else args.content_weight
    random_net, _ = make_descriptor("random", stft_config)
    nets = {"random": random_net}
    if "random2d/content" in rows:
        nets["random2d"], _ = make_descriptor("random2d", stft_config)
    if "wyse/content" in rows:
        path = trained_descriptor(Path(args.wyse), stft_config, args.wyse_epochs)
        nets["wyse"], _, info = load_descriptor(path, stft_config)
        wyse_info = {"path": str(path), "classes": len(info["classes"]),
                     "val_accuracy": info["training"].get("val_accuracy"),
                     "chance_accuracy": info["training"].get("chance_accuracy")}
    else:
        wyse_info = None

    results, spectra = [], []
    for content_fn, style_fn in teacher_clips.pairs()[:args.pairs]:
        content_clip, style_clip = content_fn(), style_fn()
        if content_clip is None or style_clip is None:
            print(f"skipping {content_fn.__name__} -> {style_fn.__name__}: clip unavailable")
            continue
        (cname, content, _), (sname, style, _) = content_clip, style_clip
        pair = f"{cname} -> {sname}"
        content_feat = signal_features(content, stft_config)  # [n_bins, n_frames]
        style_feat = signal_features(style, stft_config)      # [n_bins, n_style_frames]
        yardstick = TeacherObjective(random_net, torch.from_numpy(content_feat), torch.from_numpy(style_feat),
                                     content_weight=1.0)
        pair_spectra = [("content", content_feat), ("style", style_feat)]
        for row in rows:
            print(f"{pair}: {row} ...", flush=True)
            started = time.perf_counter()
            if row == "passthrough":
                audio, objective, iterations, evaluations = content, None, 0, 0
            else:
                kind, init = row.split("/")
                config = TeacherConfig(iterations=args.iterations, init=init, content_weight=content_weight,
                                       gla_iterations=args.gla_iterations)
                r = transfer(content, style, stft_config, nets[kind], config=config, progress=sys.stderr)
                audio, objective = r.audio, r.final
                iterations, evaluations = len(r.history), r.evaluations
            wall_s = time.perf_counter() - started
            feats = signal_features(audio, stft_config)
            with torch.no_grad():
                _, _, style_dist = yardstick(torch.from_numpy(feats))
            try:
                metrics = evaluate_result(audio, content, style, stft_config.sample_rate)
            except ParameterError as exc:  # e.g. a result that is mostly silence: say so, keep going
                print(f"    cannot measure: {exc}")
                metrics = {"timbre_distance": float("nan"), "timbre_distance_change": float("nan"),
                           "content_retention": float("nan"), "onset_correlation": float("nan"),
                           "error": str(exc)}
            results.append({"pair": pair, "row": row, "objective": objective,
                            "style_distance_random": float(style_dist), **metrics,
                            "iterations": iterations, "evaluations": evaluations, "wall_s": wall_s})
            pair_spectra.append((row, feats))
            print(f"    timbre {metrics['timbre_distance']:.1f} ({100 * metrics['timbre_distance_change']:+.0f} %), "
                  f"retention {metrics['content_retention']:.2f}, {wall_s:.0f} s", flush=True)
        spectra.append((pair, pair_spectra))

    print()
    header = (f"{'pair':<30} {'row':<17} {'objective':>9} {'style(rnd)':>10} {'timbre':>9} {'vs pass':>8} "
              f"{'retain':>7} {'onset':>6} {'wall s':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        obj = f"{r['objective']['total']:.3f}" if r["objective"] else "-"
        print(f"{r['pair']:<30} {r['row']:<17} {obj:>9} {r['style_distance_random']:>10.3f} "
              f"{r['timbre_distance']:>9.1f} {100 * r['timbre_distance_change']:>+7.0f}% "
              f"{r['content_retention']:>7.2f} {r['onset_correlation']:>6.2f} {r['wall_s']:>7.0f}")
    summary = {}
    for row in rows:
        mine = [r for r in results if r["row"] == row]
        if mine:
            summary[row] = {"timbre_change_mean": float(np.mean([r["timbre_distance_change"] for r in mine])),
                            "content_retention_mean": float(np.mean([r["content_retention"] for r in mine])),
                            "content_retention_min": float(np.min([r["content_retention"] for r in mine])),
                            "wall_s_mean": float(np.mean([r["wall_s"] for r in mine]))}
    print()
    for row, s in summary.items():
        met = s["timbre_change_mean"] <= -0.5 and s["content_retention_min"] >= 0.6
        print(f"{row:<17} timbre {100 * s['timbre_change_mean']:+.0f} % (mean), retention mean "
              f"{s['content_retention_mean']:.2f} / min {s['content_retention_min']:.2f}, {s['wall_s_mean']:.0f} s"
              f"{'  <- meets the target' if met and row != 'passthrough' else ''}")

    meta = {"rtst": __version__, "git": git_revision(), "python": platform.python_version(),
            "torch": version_of("torch"), "threads": torch.get_num_threads(), "machine": platform.machine(),
            "iterations": args.iterations, "content_weight": content_weight,
            "gla_iterations": args.gla_iterations, "stft": dataclasses.asdict(stft_config), "wyse": wyse_info}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "summary": summary}, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.png and spectra:
        plot_grid(args.png, spectra, stft_config)
        print(f"wrote {args.png}")


def plot_grid(path, spectra, stft_config):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(spectra), max(len(s) for _, s in spectra)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.2 * n_rows), squeeze=False,
                             constrained_layout=True)
    frame_s = stft_config.hop_length / stft_config.sample_rate
    for i, (pair, panels) in enumerate(spectra):
        top = max(float(np.expm1(f).max()) for _, f in panels) or 1.0
        for j in range(n_cols):
            ax = axes[i][j]
            if j >= len(panels):
                ax.axis("off")
                continue
            name, f = panels[j]
            db = 20 * np.log10(np.maximum(np.expm1(np.maximum(f, 0)) / top, 1e-4))
            ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0,
                      extent=(0, f.shape[1] * frame_s, 0, stft_config.sample_rate / 2000))
            ax.set_title(name, fontsize=8)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(f"{pair}\nkHz", fontsize=7)
    fig.savefig(str(path), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
