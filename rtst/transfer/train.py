"""Training the Wyse descriptor on labelled audio (``rtst train-descriptor``; torch).

Data layouts (:func:`find_dataset`):

* folder per class: ``DIR/<class>/<clip>.wav`` (any format libsndfile reads; ``.wav .flac .ogg .oga
  .aiff``); 20 % of each class's clips (seeded) are held out for validation.
* ESC-50: ``DIR/meta/esc50.csv`` (columns ``filename, fold, target, category``) with the clips in
  ``DIR/audio/``; class = ``category``; fold ``val_fold`` (default 5) is the validation set.

Every clip is read, made mono and resampled to the STFT's rate, turned into log1p features and cut
into random crops of ``crop_frames`` frames each epoch (clips shorter than a crop are zero-padded).
Two tasks are trained together (Wyse 2017): the main class, and an auxiliary class, the crop's
spectral centroid quantised into ``n_aux_classes`` bins at the training set's quantiles (so the
auxiliary classes are balanced). Loss = cross-entropy(main) + ``aux_weight`` x cross-entropy(aux).
Input features are normalised per bin with the training set's mean and standard deviation (stored in
the checkpoint). Adam, seeded, CPU (or CUDA when present).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtst.config import StftConfig
from rtst.validate import require_positive_ints
from rtst.errors import AudioFileError, ParameterError
from rtst.transfer.descriptors import DescriptorConfig, build_descriptor, save_descriptor
from rtst.transfer.features import signal_features

__all__ = ["TrainConfig", "find_dataset", "train_descriptor", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of descriptor training (defaults sized for a 2-core CPU in minutes)."""

    epochs: int = 30
    batch_size: int = 32
    crop_frames: int = 96
    learning_rate: float = 1e-3
    aux_weight: float = 0.5
    val_fraction: float = 0.2
    val_fold: int = 5
    seed: int = 0
    filters: tuple = (2048, 64)
    kernel_size: int = 3
    hidden: int = 32
    n_aux_classes: int = 16

    def __post_init__(self):
        require_positive_ints(self, ("epochs", "batch_size", "crop_frames", "kernel_size", "hidden", "n_aux_classes"))
        if not 0.0 < self.val_fraction < 1.0:
            raise ParameterError(f"val_fraction={self.val_fraction} must be between 0 and 1")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning_rate={self.learning_rate} must be > 0")


def find_dataset(root: str | os.PathLike, *, val_fraction: float = 0.2, val_fold: int = 5,
                 seed: int = 0) -> tuple:
    """Clips and labels of a labelled folder, split into training and validation.

    Returns
    -------
    classes : list of str
        Sorted class names; a label is an index into it.
    train, val : list of (Path, int)
    layout : str
        ``folders`` or ``esc50``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"--data {str(root)!r} is not a folder")
    csv_path = root / "meta" / "esc50.csv"
    if csv_path.is_file():
        rows = _read_esc50(csv_path)
        classes = sorted({r["category"] for r in rows})
        index = {c: i for i, c in enumerate(classes)}
        train, val = [], []
        for r in rows:
            item = (root / "audio" / r["filename"], index[r["category"]])
            (val if int(r["fold"]) == val_fold else train).append(item)
        layout = "esc50"
    else:
        class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        clips = {d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES)
                 for d in class_dirs}
        clips = {name: files for name, files in clips.items() if files}
        classes = sorted(clips)
        rng = np.random.default_rng(seed)
        train, val = [], []
        for label, name in enumerate(classes):
            files = clips[name]
            order = rng.permutation(len(files))
            n_val = max(1, int(round(val_fraction * len(files)))) if len(files) > 1 else 0
            for rank, i in enumerate(order):
                (val if rank < n_val else train).append((files[i], label))
        layout = "folders"
    if len(classes) < 2:
        raise ParameterError(f"--data {str(root)!r} has {len(classes)} class(es) with audio; need at least 2 "
                             f"(DIR/<class>/*.wav, or ESC-50's meta/esc50.csv + audio/)")
    missing = [str(p) for p, _ in train + val if not p.is_file()]
    if missing:
        raise ParameterError(f"{len(missing)} clip(s) listed in {str(csv_path)!r} are missing, e.g. {missing[0]!r}")
    if not train or not val:
        raise ParameterError(f"--data {str(root)!r} gives {len(train)} training and {len(val)} validation clips; "
                             f"need both (add clips, or check the ESC-50 fold)")
    return classes, train, val, layout


def _read_esc50(csv_path: Path) -> list:
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"filename", "fold", "category"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise ParameterError(f"{str(csv_path)!r} must have the columns {', '.join(sorted(need))}")
        rows = list(reader)
    for r in rows:
        if not str(r["fold"]).strip().isdigit():
            raise ParameterError(f"{str(csv_path)!r}: fold {r['fold']!r} of {r['filename']!r} is not a number")
    return rows


def _load_features(items: list, stft_config: StftConfig) -> list:
    from rtst.transfer.run import load_clip

    feats = []
    for path, label in items:
        try:
            signal, _ = load_clip(path, stft_config, role=f"clip {path.name}")
        except ParameterError:
            continue  # a silent clip has nothing to learn from; skipped, counted by the caller
        feats.append((signal_features(signal, stft_config), label))
    return feats


def _centroid_bins(stft_config: StftConfig) -> np.ndarray:
    return np.arange(stft_config.n_bins, dtype=np.float64)


def _crop_centroid(crop: np.ndarray, bins: np.ndarray) -> float:
    mag = np.expm1(crop).sum(axis=1)  # [n_bins]
    total = mag.sum()
    return float((mag * bins).sum() / total) if total > 0 else 0.0


def _random_crops(feats: list, n: int, crop: int, rng: np.random.Generator) -> tuple:
    n_bins = feats[0][0].shape[0]
    x = np.zeros((n, n_bins, crop), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    picks = rng.integers(0, len(feats), n)
    for i, k in enumerate(picks):
        f, label = feats[k]
        if f.shape[1] <= crop:
            x[i, :, :f.shape[1]] = f
        else:
            start = rng.integers(0, f.shape[1] - crop + 1)
            x[i] = f[:, start:start + crop]
        labels[i] = label
    return x, labels


def _fixed_crops(feats: list, crop: int) -> tuple:
    """Every validation clip cut into consecutive crops (the last one zero-padded)."""
    xs, labels = [], []
    for f, label in feats:
        n = max(1, -(-f.shape[1] // crop))
        padded = np.zeros((f.shape[0], n * crop), dtype=np.float32)
        padded[:, :f.shape[1]] = f
        for j in range(n):
            xs.append(padded[:, j * crop:(j + 1) * crop])
            labels.append(label)
    return np.stack(xs), np.array(labels, dtype=np.int64)


def train_descriptor(data: str | os.PathLike, output: str | os.PathLike, stft_config: StftConfig, *,
                     config: TrainConfig = TrainConfig(), progress=None) -> dict:
    """Train a Wyse descriptor on ``data`` and save it to ``output``.

    Returns
    -------
    record : dict
        Classes, clip counts, per-epoch losses and accuracies, final validation accuracy (main and
        auxiliary), chance level, wall time; the same record is stored in the checkpoint.
    """
    started = time.perf_counter()
    classes, train_items, val_items, layout = find_dataset(
        data, val_fraction=config.val_fraction, val_fold=config.val_fold, seed=config.seed)
    output = Path(output)
    if not output.parent.is_dir():
        raise ParameterError(f"output folder {str(output.parent)!r} does not exist")
    try:
        train_feats = _load_features(train_items, stft_config)
        val_feats = _load_features(val_items, stft_config)
    except AudioFileError as exc:
        raise ParameterError(f"training data: {exc}") from None
    if not train_feats or not val_feats:
        raise ParameterError("every training or every validation clip is silent")
    dconf = DescriptorConfig(kind="wyse", n_bins=stft_config.n_bins, filters=config.filters,
                             kernel_size=config.kernel_size, seed=config.seed, n_classes=len(classes),
                             n_aux_classes=config.n_aux_classes, hidden=config.hidden)
    if config.crop_frames < dconf.min_frames:
        raise ParameterError(f"crop_frames={config.crop_frames} is shorter than the network's receptive field "
                             f"({dconf.min_frames} frames)")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = build_descriptor(dconf)
    for p in net.parameters():
        p.requires_grad_(True)
    all_train = np.concatenate([f for f, _ in train_feats], axis=1)  # [n_bins, total_frames]
    net.feature_mean.copy_(torch.from_numpy(all_train.mean(axis=1, keepdims=True)))
    net.feature_std.copy_(torch.from_numpy(all_train.std(axis=1, keepdims=True) + 1e-3))
    del all_train
    bins = _centroid_bins(stft_config)
    # auxiliary classes: centroid quantiles over a large sample of training crops
    sample_x, _ = _random_crops(train_feats, 512, config.crop_frames, np.random.default_rng(config.seed + 1))
    edges = np.quantile([_crop_centroid(c, bins) for c in sample_x],
                        np.linspace(0, 1, config.n_aux_classes + 1)[1:-1])
    val_x, val_y = _fixed_crops(val_feats, config.crop_frames)
    val_aux = np.searchsorted(edges, [_crop_centroid(c, bins) for c in val_x])
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    ce = nn.CrossEntropyLoss()
    crops_per_epoch = max(config.batch_size, len(train_feats) * 4)
    history = []
    for epoch in range(1, config.epochs + 1):
        x, y = _random_crops(train_feats, crops_per_epoch, config.crop_frames, rng)
        aux = np.searchsorted(edges, [_crop_centroid(c, bins) for c in x])
        net.train()
        losses = []
        for start in range(0, len(x), config.batch_size):
            xb = torch.from_numpy(x[start:start + config.batch_size]).to(device)
            yb = torch.from_numpy(y[start:start + config.batch_size]).to(device)
            ab = torch.from_numpy(aux[start:start + config.batch_size]).to(device)
            logits, aux_logits = net.classify(xb)
            loss = ce(logits, yb) + config.aux_weight * ce(aux_logits, ab)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        acc, aux_acc = _evaluate(net, val_x, val_y, val_aux, device, config.batch_size)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_accuracy": acc,
                        "val_aux_accuracy": aux_acc, "seconds": time.perf_counter() - started})
        if progress is not None:
            progress.write(f"epoch {epoch}/{config.epochs}: loss {history[-1]['loss']:.3f}, validation accuracy "
                           f"{acc:.3f} (centroid task {aux_acc:.3f}), {history[-1]['seconds']:.0f}s\n")
            progress.flush()
    net.to("cpu").eval()
    for p in net.parameters():
        p.requires_grad_(False)
    record = {
        "layout": layout, "classes": classes, "train_clips": len(train_feats), "val_clips": len(val_feats),
        "skipped_silent": len(train_items) + len(val_items) - len(train_feats) - len(val_feats),
        "val_crops": int(len(val_x)), "chance_accuracy": float(np.bincount(val_y).max() / len(val_y)),
        "val_accuracy": history[-1]["val_accuracy"], "val_aux_accuracy": history[-1]["val_aux_accuracy"],
        "history": history, "config": {**dataclasses.asdict(config), "filters": list(config.filters)},
        "device": str(device), "wall_seconds": time.perf_counter() - started,
    }
    save_descriptor(output, net, stft_config, classes=classes, training=record)
    return record


def _evaluate(net, x, y, aux, device, batch_size) -> tuple:
    net.eval()
    correct = correct_aux = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits, aux_logits = net.classify(torch.from_numpy(x[start:start + batch_size]).to(device))
            correct += int((logits.argmax(1).cpu().numpy() == y[start:start + batch_size]).sum())
            correct_aux += int((aux_logits.argmax(1).cpu().numpy() == aux[start:start + batch_size]).sum())
    return correct / len(x), correct_aux / len(x)
