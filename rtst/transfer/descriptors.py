"""Descriptor networks: what "content" and "style" are measured with (torch, the ``train`` extra).

A descriptor maps features ``[batch, n_bins, n_frames]`` (log1p magnitude, frequency bins as
channels) to a list of activation maps, one per layer, each ``[batch, channels, positions]``.
Content is compared on the activations, style on their Gram matrices (:mod:`rtst.transfer.losses`).

* :class:`RandomConv1d` (Ulyanov & Lebedev 2016): one 1-D convolution over time with the frequency
  bins as input channels, random weights, ReLU. Default 4096 filters x 11 frames, weights drawn from
  ``N(0, (sqrt(2) * sqrt(2 / ((n_bins + filters) * kernel_size)))^2)``, no bias, no padding.
  Time-shift invariant, not frequency-shift invariant: a filter sees the whole spectrum.
* :class:`RandomConv2d`: the spectrogram as a one-channel image, random 2-D convolutions (He init)
  with ReLU and 2x2 max-pooling between layers; positions are (frequency, time) pairs. The
  comparison case: frequency-shift invariance, as in image style transfer.
* :class:`WyseDescriptor` (Wyse 2017): a classifier trained on labelled audio. Two 1-D convolutions
  (2048 and 64 channels, ReLU, max-pool 2 after each), then global mean over time, a 32-unit fully
  connected layer, and two heads: the main classes and an auxiliary 16-class spectral-centroid task.
  Its two convolution layers are the style/content layers. Train with ``rtst train-descriptor``
  (:mod:`rtst.transfer.train`).

:func:`build_descriptor` builds any of them from a :class:`DescriptorConfig`; :func:`load_descriptor`
reads a trained checkpoint (config and weights together, checked against the STFT).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import torch
from torch import nn

from rtst.config import StftConfig
from rtst.validate import require_positive_ints
from rtst.errors import ModelError, ParameterError

__all__ = ["DescriptorConfig", "RandomConv1d", "RandomConv2d", "WyseDescriptor", "build_descriptor",
           "load_descriptor", "save_descriptor", "KINDS", "CHECKPOINT_FORMAT"]

KINDS = ("random", "random2d", "wyse")
CHECKPOINT_FORMAT = "rtst-descriptor-v1"


@dataclasses.dataclass(frozen=True)
class DescriptorConfig:
    """Shape of a descriptor network (saved with every trained checkpoint).

    Parameters
    ----------
    kind : {'random', 'random2d', 'wyse'}
    n_bins : int
        Input channels (frequency bins, ``n_fft // 2 + 1``).
    filters : tuple of int
        Channels per convolution layer. random: one layer (default 4096); random2d: e.g. (32, 64);
        wyse: (2048, 64).
    kernel_size : int
        Frames (random, wyse) or frequency-by-time pixels (random2d, square) per kernel.
    dilation : int
        Kernel dilation in frames (random only).
    seed : int
        Seed of the random weights (random, random2d) or of the training initialisation (wyse).
    n_classes : int
        Main classes (wyse only).
    n_aux_classes : int
        Spectral-centroid classes of the auxiliary task (wyse only).
    hidden : int
        Units of the fully connected layer (wyse only).
    """

    kind: str = "random"
    n_bins: int = 513
    filters: tuple = (4096,)
    kernel_size: int = 11
    dilation: int = 1
    seed: int = 0
    n_classes: int = 0
    n_aux_classes: int = 16
    hidden: int = 32

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ParameterError(f"descriptor kind={self.kind!r} must be one of {', '.join(KINDS)}")
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        require_positive_ints(self, ("n_bins", "kernel_size", "dilation"), "descriptor ")
        if not self.filters or any(f < 1 or f > 65536 for f in self.filters):
            raise ParameterError(f"descriptor filters={self.filters} must be 1..65536 channels per layer")
        if self.kind == "random" and len(self.filters) != 1:
            raise ParameterError(f"the random descriptor has one layer; got filters={self.filters}")
        if self.kind == "wyse":
            if len(self.filters) != 2:
                raise ParameterError(f"the wyse descriptor has two conv layers; got filters={self.filters}")
            if self.n_classes < 2:
                raise ParameterError(f"the wyse descriptor needs at least 2 classes, got n_classes={self.n_classes}")
        if not 0 <= self.seed < 2 ** 63:
            raise ParameterError(f"descriptor seed={self.seed} must be in 0..2**63-1")

    @property
    def min_frames(self) -> int:
        """Shortest clip in frames for which every layer (and the classifier) has an output."""
        if self.kind == "random":
            return self.dilation * (self.kernel_size - 1) + 1
        n = 2 if self.kind == "wyse" else 1  # wyse pools the last layer once more to classify
        for i in reversed(range(len(self.filters))):
            n += self.kernel_size - 1
            if i > 0:
                n *= 2  # the max-pool before layer i
        return n

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DescriptorConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ModelError(f"descriptor config has unknown fields {unknown}")
        return cls(**d)  # __post_init__ turns the stored list of filters back into a tuple


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


class RandomConv1d(nn.Module):
    """Ulyanov's random single-layer descriptor (see module docstring)."""

    def __init__(self, config: DescriptorConfig):
        super().__init__()
        self.config = config
        filters, k = config.filters[0], config.kernel_size
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((config.n_bins + filters) * k))
        weight = torch.randn(filters, config.n_bins, k, generator=_generator(config.seed)) * std
        self.register_buffer("weight", weight)  # a buffer: never trained, saved with the module

    def forward(self, x: torch.Tensor) -> list:
        """x: [batch, n_bins, n_frames] -> [[batch, filters, n_frames - receptive_field + 1]]."""
        return [torch.relu(nn.functional.conv1d(x, self.weight, dilation=self.config.dilation))]


class RandomConv2d(nn.Module):
    """Random 2-D CNN over the spectrogram as an image (see module docstring)."""

    def __init__(self, config: DescriptorConfig):
        super().__init__()
        self.config = config
        gen = _generator(config.seed)
        weights = []
        in_ch = 1
        for out_ch in config.filters:
            k = config.kernel_size
            std = math.sqrt(2.0 / (in_ch * k * k))  # He init: keeps activations' scale across layers
            weights.append(torch.randn(out_ch, in_ch, k, k, generator=gen) * std)
            in_ch = out_ch
        for i, w in enumerate(weights):
            self.register_buffer(f"weight{i}", w)
        self.n_layers = len(weights)

    def forward(self, x: torch.Tensor) -> list:
        """x: [batch, n_bins, n_frames] -> per layer [batch, channels, freq * time]."""
        h = x.unsqueeze(1)  # [batch, 1, n_bins, n_frames]
        out = []
        for i in range(self.n_layers):
            if i > 0:
                h = nn.functional.max_pool2d(h, 2)
            h = torch.relu(nn.functional.conv2d(h, getattr(self, f"weight{i}")))
            out.append(h.flatten(2))
        return out


class WyseDescriptor(nn.Module):
    """Wyse's classification-trained descriptor (see module docstring)."""

    def __init__(self, config: DescriptorConfig):
        super().__init__()
        self.config = config
        torch.manual_seed(config.seed)
        c1, c2 = config.filters
        k = config.kernel_size
        self.conv1 = nn.Conv1d(config.n_bins, c1, k)
        self.conv2 = nn.Conv1d(c1, c2, k)
        self.fc = nn.Linear(c2, config.hidden)
        self.head = nn.Linear(config.hidden, config.n_classes)
        self.aux_head = nn.Linear(config.hidden, config.n_aux_classes)
        # input normalisation (per-bin mean and std of the training features), set by training
        self.register_buffer("feature_mean", torch.zeros(config.n_bins, 1))
        self.register_buffer("feature_std", torch.ones(config.n_bins, 1))

    def layers(self, x: torch.Tensor) -> list:
        """Activations of the two conv layers (after ReLU, before pooling)."""
        h = (x - self.feature_mean) / self.feature_std
        a1 = torch.relu(self.conv1(h))
        a2 = torch.relu(self.conv2(nn.functional.max_pool1d(a1, 2)))
        return [a1, a2]

    def forward(self, x: torch.Tensor) -> list:
        """x: [batch, n_bins, n_frames] -> [[batch, 2048, t1], [batch, 64, t2]]."""
        return self.layers(x)

    def classify(self, x: torch.Tensor) -> tuple:
        """Logits of the main and auxiliary tasks: ([batch, n_classes], [batch, n_aux_classes])."""
        a2 = self.layers(x)[1]
        pooled = nn.functional.max_pool1d(a2, 2).mean(dim=2)  # [batch, c2]
        hidden = torch.relu(self.fc(pooled))
        return self.head(hidden), self.aux_head(hidden)


def build_descriptor(config: DescriptorConfig) -> nn.Module:
    """A descriptor network for ``config`` (random weights drawn from ``config.seed``), in eval mode."""
    cls = {"random": RandomConv1d, "random2d": RandomConv2d, "wyse": WyseDescriptor}[config.kind]
    net = cls(config)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def save_descriptor(path: str | os.PathLike, net: nn.Module, stft_config: StftConfig, *,
                    classes: list, training: dict) -> None:
    """Write a checkpoint: config, STFT settings, class names, training record and weights."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": net.config.to_dict(),
        "stft": dataclasses.asdict(stft_config),
        "classes": list(classes),
        "training": training,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint under the real name


def load_descriptor(path: str | os.PathLike, stft_config: StftConfig | None = None) -> tuple:
    """Read a trained descriptor checkpoint.

    Returns
    -------
    net : nn.Module
        In eval mode, weights frozen.
    stft_config : StftConfig
        The STFT it was trained on.
    info : dict
        ``classes`` and ``training``.

    Raises
    ------
    ModelError
        Missing, truncated or foreign file, or an STFT that differs from ``stft_config``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"descriptor checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a checkpoint"
        raise ModelError(f"{str(path)!r} is not a readable descriptor checkpoint: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{str(path)!r} is not an rtst descriptor checkpoint (format {CHECKPOINT_FORMAT} expected)")
    try:
        config = DescriptorConfig.from_dict(payload["config"])
        trained_stft = StftConfig(**payload["stft"])
    except (KeyError, TypeError, ParameterError) as exc:
        raise ModelError(f"{str(path)!r} has a bad descriptor config: {exc}") from None
    if stft_config is not None and trained_stft != stft_config:
        diffs = [f"{k} {getattr(trained_stft, k)} vs {getattr(stft_config, k)}"
                 for k in ("sample_rate", "n_fft", "hop_length", "window")
                 if getattr(trained_stft, k) != getattr(stft_config, k)]
        raise ModelError(f"descriptor {str(path)!r} was trained on another STFT (checkpoint vs requested: "
                         f"{', '.join(diffs)})")
    net = build_descriptor(config)
    try:
        net.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{str(path)!r} weights do not fit its config: {first}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, trained_stft, {"classes": payload.get("classes", []), "training": payload.get("training", {})}
