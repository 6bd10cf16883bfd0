"""The teacher: optimisation-based style transfer (Ulyanov & Lebedev 2016; Wyse 2017).

L-BFGS (strong-Wolfe line search) over the result's log1p magnitude ``[n_bins, n_frames]`` on the
live engine's STFT frames, minimising :class:`rtst.transfer.losses.TeacherObjective` under a
descriptor network, then offline phase reconstruction (PGHI, then fast Griffin-Lim) and the inverse
STFT. Slow (minutes per clip) and exact: the reference the real-time student is distilled from.

Memory and time grow with the clip: the largest activation map is ``filters x n_frames`` floats and
the optimiser keeps several of them; :func:`check_size` refuses a clip that would not fit in the
memory limit, naming the longest clip that would.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from rtst.config import StftConfig
from rtst.errors import ParameterError
from rtst.validate import require_int
from rtst.transfer import DEFAULT_CONTENT_WEIGHT, DEFAULT_ENVELOPE_WEIGHT
from rtst.transfer.features import features_to_audio, signal_features
from rtst.transfer.losses import TeacherObjective

__all__ = ["TeacherConfig", "TransferResult", "transfer", "check_size", "estimate_memory_bytes", "INITS"]

INITS = ("content", "noise")
#: Working-set model of one run, in float32 elements: per frame ``5 x filters + 15 x n_bins``, fixed
#: ``4.5 x filters^2`` (Gram matrices and their gradients) plus the weights. Fitted to the peak RSS
#: growth of real runs with 4096 filters x 11: 426 MB for 2 s, 553 MB for 8 s (model: 437, 563).
_PER_FRAME_FILTERS, _PER_FRAME_BINS, _GRAM_COPIES = 5, 15, 4.5
DEFAULT_MEMORY_LIMIT_BYTES = 8 * 2 ** 30


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """Settings of one teacher run.

    Parameters
    ----------
    iterations : int
        L-BFGS iterations (each evaluates the loss and gradient about 1-2 times).
    init : {'content', 'noise'}
        Start from the content's features (Grinstein 2018; default) or from noise: i.i.d. normal
        features with the content features' overall mean and standard deviation (no spectral or
        temporal structure). Ulyanov's 1e-3 noise around 0 does not work with the relative losses
        in float32: every activation is near 0, the loss sits at 1.0 and its changes are below
        float32 resolution, so the line search finds no descent.
    content_weight, style_weight : float
        Weights of the relative content and style losses (:mod:`rtst.transfer.losses`).
    envelope_weight : float
        Weight of the envelope (timbre) term inside the style loss (:mod:`rtst.transfer.losses`).
    content_layers, style_layers : tuple of float, optional
        Per-layer weights for multi-layer descriptors (default all 1).
    seed : int
        Seed of the noise initialisation and of the phase reconstruction's random phases.
    history_size : int
        L-BFGS memory (pairs of steps).
    gla_iterations : int
        Fast Griffin-Lim iterations after PGHI for the output audio.
    memory_limit_bytes : int
        Largest estimated working set allowed (:func:`check_size`).
    """

    iterations: int = 300
    init: str = "content"
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = 1.0
    envelope_weight: float = DEFAULT_ENVELOPE_WEIGHT
    content_layers: tuple | None = None
    style_layers: tuple | None = None
    seed: int = 0
    history_size: int = 20
    gla_iterations: int = 100
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES

    def __post_init__(self):
        require_int("iterations", self.iterations, 0, 100000)
        if self.init not in INITS:
            raise ParameterError(f"init={self.init!r} must be one of {', '.join(INITS)}")
        require_int("seed", self.seed, 0, 2 ** 63 - 1, rule="an integer in 0..2**63-1")
        if not 1 <= self.history_size <= 1000:
            raise ParameterError(f"history_size={self.history_size} must be 1..1000")


@dataclasses.dataclass
class TransferResult:
    """What a teacher run produced.

    Attributes
    ----------
    audio : np.ndarray, float64 [n_samples]
        The result at the STFT's sample rate, the content's length.
    features : np.ndarray, float32 [n_bins, n_frames]
        Optimised log1p magnitude.
    history : list of dict
        Per iteration: ``iteration``, ``total``, ``content``, ``style``, ``evaluations``, ``seconds``.
    initial, final : dict
        ``total``, ``content``, ``style`` before the first and after the last iteration.
    evaluations : int
        Loss-and-gradient evaluations in all.
    optimise_seconds, phase_seconds : float
        Wall time of the optimisation and of the phase reconstruction.
    stopped : str
        Why the optimisation ended: ``iterations`` or ``converged``.
    """

    audio: np.ndarray
    features: np.ndarray
    history: list
    initial: dict
    final: dict
    evaluations: int
    optimise_seconds: float
    phase_seconds: float
    stopped: str


def estimate_memory_bytes(filters: int, n_frames: int, n_bins: int, kernel_size: int = 11) -> int:
    """Working set of a teacher run with one layer of ``filters`` channels, in bytes (float32)."""
    fixed = _GRAM_COPIES * filters * filters + filters * n_bins * kernel_size
    return int(4 * (fixed + (_PER_FRAME_FILTERS * filters + _PER_FRAME_BINS * n_bins) * n_frames))


def check_size(filters: int, n_frames: int, stft_config: StftConfig, limit_bytes: int, *, role: str,
               kernel_size: int = 11) -> None:
    """Refuse a clip whose estimated working set exceeds ``limit_bytes`` (ParameterError with the limit)."""
    need = estimate_memory_bytes(filters, n_frames, stft_config.n_bins, kernel_size)
    if need <= limit_bytes:
        return
    fixed = estimate_memory_bytes(filters, 0, stft_config.n_bins, kernel_size)
    per_frame = estimate_memory_bytes(filters, 1, stft_config.n_bins, kernel_size) - fixed
    max_frames = max(0, (limit_bytes - fixed) // per_frame)
    max_seconds = max_frames * stft_config.hop_length / stft_config.sample_rate
    seconds = n_frames * stft_config.hop_length / stft_config.sample_rate
    raise ParameterError(
        f"{role} clip is {seconds:.1f} s, too long for the teacher with {filters} filters: it needs about "
        f"{need / 2 ** 30:.1f} GiB and the limit is {limit_bytes / 2 ** 30:.1f} GiB (about {max_seconds:.1f} s); "
        f"cut the clip or use fewer filters"
    )


def _progress(stream, iteration: int, total: int, losses: tuple, started: float) -> None:
    width = 24
    done = int(width * iteration / max(total, 1))
    elapsed = time.perf_counter() - started
    eta = elapsed / iteration * (total - iteration) if iteration else 0.0
    stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {iteration}/{total} loss {losses[0]:.4g} "
                 f"(content {losses[1]:.4g}, style {losses[2]:.4g}) {elapsed:.0f}s, ~{eta:.0f}s left  ")
    stream.flush()


def transfer(content: np.ndarray, style: np.ndarray, stft_config: StftConfig, descriptor, *,
             config: TeacherConfig = TeacherConfig(), progress=None) -> TransferResult:
    """Style transfer by optimisation.

    Parameters
    ----------
    content, style : np.ndarray, float [n_samples]
        Mono signals at ``stft_config.sample_rate`` (see :func:`rtst.transfer.features.prepare_signal`).
    descriptor : torch.nn.Module
        From :mod:`rtst.transfer.descriptors`; its ``config.n_bins`` must equal the STFT's bins.
    config : TeacherConfig
    progress : file-like, optional
        Where to draw a progress bar with the losses (e.g. ``sys.stderr``); None draws nothing.

    Returns
    -------
    TransferResult
    """
    dconf = descriptor.config
    if dconf.n_bins != stft_config.n_bins:
        raise ParameterError(f"descriptor has n_bins={dconf.n_bins} but the STFT (n_fft={stft_config.n_fft}) "
                             f"has {stft_config.n_bins}")
    content_feat = signal_features(content, stft_config)  # [n_bins, n_frames]
    style_feat = signal_features(style, stft_config)      # [n_bins, n_style_frames]
    frames_s = stft_config.hop_length / stft_config.sample_rate
    for role, feat in (("content", content_feat), ("style", style_feat)):
        if feat.shape[1] < dconf.min_frames:
            raise ParameterError(
                f"{role} clip is {feat.shape[1] * frames_s:.3f} s ({feat.shape[1]} frames), shorter than the "
                f"descriptor's receptive field of {dconf.min_frames} frames ({dconf.min_frames * frames_s:.3f} s)"
            )
        check_size(max(dconf.filters), feat.shape[1], stft_config, config.memory_limit_bytes, role=role,
                   kernel_size=dconf.kernel_size)

    torch.manual_seed(config.seed)
    objective = TeacherObjective(descriptor, torch.from_numpy(content_feat), torch.from_numpy(style_feat),
                                 content_weight=config.content_weight, style_weight=config.style_weight,
                                 content_layers=config.content_layers, style_layers=config.style_layers,
                                 envelope_weight=config.envelope_weight)
    if config.init == "content":
        x0 = content_feat.copy()
    else:
        gen = np.random.default_rng(config.seed)
        mean, std = float(content_feat.mean()), float(content_feat.std())
        x0 = (mean + std * gen.standard_normal(content_feat.shape)).astype(np.float32)
    x = torch.from_numpy(x0).requires_grad_(True)
    # one L-BFGS iteration per step() call (its state carries over), so the losses are recorded and
    # the bar drawn after each; strong Wolfe guarantees each accepted step lowers the loss
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, max_eval=25, history_size=config.history_size,
                            tolerance_grad=1e-12, tolerance_change=1e-12, line_search_fn="strong_wolfe")
    evaluations = 0
    tried = []  # (point, losses) of this iteration's evaluations: the accepted one is among them

    def closure():
        nonlocal evaluations
        opt.zero_grad()
        total, lc, ls = objective(x)
        total.backward()
        evaluations += 1
        tried.append((x.detach().clone(), (total.item(), lc.item(), ls.item())))
        return total

    def losses_at_x():
        for point, losses in reversed(tried):
            if torch.equal(point, x.detach()):
                return losses
        with torch.no_grad():
            return tuple(float(v) for v in objective(x))

    started = time.perf_counter()
    with torch.no_grad():
        total, lc, ls = objective(x)
    initial = {"total": float(total), "content": float(lc), "style": float(ls)}
    history = []
    stopped = "iterations"
    for it in range(1, config.iterations + 1):
        before = x.detach().clone()
        tried.clear()
        opt.step(closure)
        total, lc, ls = losses_at_x()
        point = {"iteration": it, "total": total, "content": lc, "style": ls,
                 "evaluations": evaluations, "seconds": time.perf_counter() - started}
        history.append(point)
        if progress is not None:
            _progress(progress, it, config.iterations, (point["total"], point["content"], point["style"]), started)
        if torch.equal(before, x.detach()):
            stopped = "converged"  # the line search found no lower point: a (local) minimum
            break
    optimise_seconds = time.perf_counter() - started
    if progress is not None and config.iterations:
        progress.write("\n")
        progress.flush()
    final = {k: history[-1][k] for k in ("total", "content", "style")} if history else dict(initial)
    with torch.no_grad():
        features = objective.realisable(x.detach()).numpy().copy()
    started = time.perf_counter()
    audio = features_to_audio(features, stft_config, content.shape[0],
                              gla_iterations=config.gla_iterations, seed=config.seed)
    phase_seconds = time.perf_counter() - started
    return TransferResult(audio=audio, features=features, history=history, initial=initial, final=final,
                          evaluations=evaluations, optimise_seconds=optimise_seconds,
                          phase_seconds=phase_seconds, stopped=stopped)

