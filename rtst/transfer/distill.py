"""Distillation: train a :class:`~rtst.transfer.student.Student` on the teacher's objective (torch).

The student never sees a teacher *output*: it is trained directly on the teacher's objective
(Ulyanov & Lebedev's loss, :class:`~rtst.transfer.losses.TeacherObjective`), the way feedforward
texture networks are (Ulyanov et al. 2016, Johnson et al. 2016). Each step:

1. draws ``batch_size`` random segments of the content corpus, each ``segment_frames`` frames plus
   ``receptive_field - 1`` frames of history before them (so every frame the loss sees had its full
   causal context, as it has in a stream); near-silent segments are redrawn; each is played at a
   random level (:data:`LEVEL_AUGMENT_DB`);
2. runs the student over the segments (whole-clip form, causal);
3. measures, on the last ``segment_frames`` frames of each, the teacher's loss with the *same*
   descriptor the teacher uses (a seeded random 1-D conv, rebuilt from its seed, nothing to ship):
   ``content_weight * relative content error + style_weight * relative Gram error`` against the
   style clip's Gram matrix, features clipped to ``[0, ceiling]`` as in the teacher;
4. takes one Adam step (cosine learning-rate decay, gradient-norm clipping).

Per-item losses are the teacher's per-clip losses on that segment, averaged over the batch, so the
figures printed during training are directly comparable to a teacher run (``rtst transfer``) with
the same descriptor and weights.

Checkpoints (``<output>.ckpt``, torch, written atomically every ``checkpoint_every`` steps and at
the end) hold the student, the optimiser, the random-generator states, the loss history and the
settings; ``resume=True`` continues one exactly where it stopped (it must have the same settings).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from rtst.config import StftConfig
from rtst.validate import require_positive_ints
from rtst.errors import ModelError, ParameterError
from rtst.transfer import DEFAULT_CONTENT_WEIGHT, DEFAULT_ENVELOPE_WEIGHT
from rtst.transfer.losses import HEADROOM, EnvelopeStyle
from rtst.transfer.student import Student, StudentConfig

__all__ = ["DistillConfig", "BatchObjective", "ContentCorpus", "distill", "style_gram", "read_training",
           "find_audio", "CHECKPOINT_FORMAT", "AUDIO_SUFFIXES"]

CHECKPOINT_FORMAT = "rtst-student-checkpoint-v2"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga")
#: A segment is used when at least this fraction of its frames have a bin above ACTIVE_FEATURE.
ACTIVE_FRACTION = 0.5
#: log1p magnitude that counts as sound (|X| = 1.7: about -45 dB below a full-scale sine at n_fft 1024).
ACTIVE_FEATURE = 1.0
#: Each training segment is played at a random level in this range (dB, uniform) before the
#: student sees it: a microphone's level is not the corpus's, and the student must not learn
#: its filter from the level alone.
LEVEL_AUGMENT_DB = (-24.0, 6.0)


def augment_level(batch: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """log1p features ``[batch, n_bins, frames]``, each item's magnitudes scaled by a random gain
    (LEVEL_AUGMENT_DB)."""
    gains = 10.0 ** (gen.uniform(*LEVEL_AUGMENT_DB, size=(batch.shape[0], 1, 1)) / 20.0)
    return np.log1p(np.expm1(batch.astype(np.float64)) * gains).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Settings of one distillation run (all recorded in the checkpoint and the ONNX metadata).

    Parameters
    ----------
    steps : int
        Adam steps.
    batch_size : int
        Content segments per step.
    segment_frames : int
        Frames per segment that the loss sees (after the student's receptive field of history).
    learning_rate : float
        Peak Adam learning rate (cosine decay to 5 % of it over ``steps``).
    content_weight, style_weight, envelope_weight : float
        The teacher objective's weights (same meaning as in ``rtst transfer``).
    envelope_seconds : float
        Time constant of the student's running estimate of the input's envelope.
    smooth_weight : float
        Weight of the student's own penalty on its filter's roughness: mean squared difference of
        the band log-gains of consecutive frames plus that of neighbouring bands (nepers squared).
    gram_weight : float
        Weight of the Gram (texture) part of the style loss; the envelope part has
        ``envelope_weight``.
    filters, kernel_size, dilation, descriptor_seed : int
        The random 1-D conv descriptor (``rtst transfer --descriptor random --filters ...``).
    channels, student_kernel, dilations : student shape (:class:`StudentConfig`).
    seed : int
        Seeds the student's initialisation and the segment draws.
    checkpoint_every : int
        Steps between checkpoints.
    """

    steps: int = 1000
    batch_size: int = 4
    segment_frames: int = 128
    learning_rate: float = 1e-3
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = 1.0
    envelope_weight: float = DEFAULT_ENVELOPE_WEIGHT
    smooth_weight: float = 10.0
    gram_weight: float = 0.0
    envelope_seconds: float = 0.1
    filters: int = 1024
    kernel_size: int = 11
    dilation: int = 1
    descriptor_seed: int = 0
    channels: int = 192
    student_kernel: int = 3
    dilations: tuple = (1, 2, 4, 8)
    seed: int = 0
    checkpoint_every: int = 100

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        require_positive_ints(self, ("steps", "batch_size", "segment_frames", "filters", "kernel_size", "dilation",
                                     "channels", "student_kernel", "checkpoint_every"), "distill ")
        for name in ("learning_rate", "content_weight", "style_weight", "envelope_weight", "smooth_weight",
                     "envelope_seconds", "gram_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < float("inf")):
                raise ParameterError(f"distill {name}={value!r} must be a finite number >= 0")
        if not self.learning_rate > 0:
            raise ParameterError(f"distill learning_rate={self.learning_rate} must be positive")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ParameterError("content_weight and style_weight are both 0: nothing to learn")
        receptive_field = self.descriptor_config(n_bins=1).min_frames  # independent of the bins
        if self.segment_frames < receptive_field:
            raise ParameterError(f"segment_frames={self.segment_frames} is shorter than the descriptor's "
                                 f"receptive field ({receptive_field} frames)")

    def student_config(self, stft_config: StftConfig) -> StudentConfig:
        frames_per_second = stft_config.sample_rate / stft_config.hop_length
        return StudentConfig(n_bins=stft_config.n_bins, channels=self.channels, kernel_size=self.student_kernel,
                             dilations=self.dilations, envelope_frames=self.envelope_seconds * frames_per_second)

    def descriptor_config(self, n_bins: int):
        from rtst.transfer.descriptors import DescriptorConfig

        return DescriptorConfig(kind="random", n_bins=n_bins, filters=(self.filters,),
                                kernel_size=self.kernel_size, dilation=self.dilation, seed=self.descriptor_seed)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "dilations": list(self.dilations)}


def style_gram(descriptor, style_features: np.ndarray, *, chunk_frames: int = 2048) -> list:
    """Gram matrices ``F F^T / N`` of a (possibly long) style clip, one per descriptor layer, computed
    in overlapping chunks so memory does not grow with the clip. Equal to ``gram(descriptor(style))``."""
    cfg = descriptor.config
    context = cfg.dilation * (cfg.kernel_size - 1)
    x = torch.from_numpy(np.ascontiguousarray(style_features, dtype=np.float32))
    total, count = None, 0
    with torch.no_grad():
        start = 0
        while start + context < x.shape[1]:
            acts = descriptor(x[:, start:start + chunk_frames + context].unsqueeze(0))
            grams = [a[0] @ a[0].T for a in acts]
            total = grams if total is None else [t + g for t, g in zip(total, grams)]
            count += acts[0].shape[-1]
            start += chunk_frames
    return [t / count for t in total]


class BatchObjective:
    """The teacher's objective (:class:`~rtst.transfer.losses.TeacherObjective`) for a batch of
    content segments against one style, averaged over the batch.

    Item ``i`` gets exactly the teacher's per-clip losses on its segment: relative content error of
    the activations, relative error of the Gram matrix against the style's, features seen clipped to
    ``[0, max(content_i.max(), style.max()) + HEADROOM]``.
    """

    def __init__(self, descriptor, style_features: np.ndarray, *, content_weight: float, style_weight: float = 1.0,
                 envelope_weight: float = DEFAULT_ENVELOPE_WEIGHT, gram_weight: float = 1.0):
        self.descriptor = descriptor
        self.gram_weight = float(gram_weight)
        self.envelope_weight = float(envelope_weight)
        self.envelope = EnvelopeStyle(torch.from_numpy(np.ascontiguousarray(style_features, dtype=np.float32))) \
            if self.envelope_weight else None
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.style_max = float(np.max(style_features))
        self.style_targets = style_gram(descriptor, style_features)
        self.style_norms = [(g ** 2).sum().clamp_min(1e-20) for g in self.style_targets]

    def to(self, device) -> "BatchObjective":
        self.descriptor = self.descriptor.to(device)
        self.style_targets = [g.to(device) for g in self.style_targets]
        self.style_norms = [n.to(device) for n in self.style_norms]
        if self.envelope is not None:
            self.envelope = self.envelope.to(device)
        return self

    def __call__(self, x: torch.Tensor, content: torch.Tensor) -> tuple:
        """x, content [batch, n_bins, frames] -> (total, content, style) scalar tensors (batch means)."""
        ceiling = content.amax(dim=(1, 2)).clamp_min(self.style_max) + HEADROOM   # [batch]
        x = torch.minimum(x.clamp_min(0.0), ceiling[:, None, None])
        acts = self.descriptor(x)
        with torch.no_grad():
            targets = self.descriptor(content)
        lc = x.new_zeros(x.shape[0])
        ls = x.new_zeros(x.shape[0])
        for a, t, g_s, n_s in zip(acts, targets, self.style_targets, self.style_norms):
            lc = lc + ((a - t) ** 2).sum(dim=(1, 2)) / (t ** 2).sum(dim=(1, 2)).clamp_min(1e-20)
            g = a @ a.transpose(1, 2) / a.shape[-1]                                # [batch, C, C]
            ls = ls + ((g - g_s) ** 2).sum(dim=(1, 2)) / n_s
        ls = self.gram_weight * ls
        if self.envelope is not None:
            ls = ls + self.envelope_weight * self.envelope(x)
        lc, ls = lc.mean(), ls.mean()
        return self.content_weight * lc + self.style_weight * ls, lc, ls


def find_audio(paths) -> list:
    """Audio files (``AUDIO_SUFFIXES``) under each path (a file or a folder, searched recursively), sorted."""
    found = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()))
        else:
            raise ParameterError(f"content path {str(p)!r} does not exist")
    if not found:
        raise ParameterError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {', '.join(map(str, paths))}")
    return found


class ContentCorpus:
    """Features of every content file, and seeded draws of segments that have sound in them."""

    def __init__(self, paths, stft_config: StftConfig, *, progress=None):
        from rtst.transfer.features import signal_features
        from rtst.transfer.run import load_clip

        self.files = find_audio(paths)
        self.features = []
        self.skipped = []
        digest = hashlib.sha256()
        for i, f in enumerate(self.files):
            try:
                signal, _ = load_clip(f, stft_config, role="content")
            except Exception as exc:  # a silent or unreadable file is skipped and reported, not fatal
                self.skipped.append(f"{f}: {str(exc).splitlines()[0]}")
                continue
            self.features.append(signal_features(signal, stft_config))
            digest.update(f.name.encode())
            digest.update(str(signal.size).encode())
            if progress is not None:
                progress.write(f"\rreading content {i + 1}/{len(self.files)}")
                progress.flush()
        if progress is not None:
            progress.write("\n")
        if not self.features:
            raise ParameterError(f"no usable content among {len(self.files)} files: {self.skipped[:3]}")
        self.frames = np.array([f.shape[1] for f in self.features])
        self.seconds = float(self.frames.sum() * stft_config.hop_length / stft_config.sample_rate)
        self.fingerprint = digest.hexdigest()[:16]

    def draw(self, gen: np.random.Generator, batch: int, length: int) -> np.ndarray:
        """``[batch, n_bins, length]`` segments, each from a file chosen in proportion to its length,
        redrawn (up to 50 times) until at least ACTIVE_FRACTION of its frames have sound."""
        usable = np.flatnonzero(self.frames >= length)
        if usable.size == 0:
            raise ParameterError(f"every content file is shorter than a training segment ({length} frames)")
        weights = self.frames[usable] / self.frames[usable].sum()
        out = np.empty((batch, self.features[0].shape[0], length), dtype=np.float32)
        for b in range(batch):
            for _ in range(50):
                f = self.features[usable[gen.choice(usable.size, p=weights)]]
                start = int(gen.integers(0, f.shape[1] - length + 1))
                seg = f[:, start:start + length]
                if (seg.max(axis=0) > ACTIVE_FEATURE).mean() >= ACTIVE_FRACTION:
                    break
            out[b] = seg
        return out


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _progress(stream, step: int, total: int, ema: tuple, started: float, first_step: int) -> None:
    width = 24
    done = int(width * step / max(total, 1))
    elapsed = time.perf_counter() - started
    rate = elapsed / max(step - first_step, 1)
    stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{total} loss {ema[0]:.4g} (content {ema[1]:.4g}, "
                 f"style {ema[2]:.4g}) {elapsed:.0f}s, ~{rate * (total - step):.0f}s left  ")
    stream.flush()


class _Filtered(torch.nn.Module):
    """The student's training forward (band gains, then the filtered segments) as one module, so
    that DistributedDataParallel sees it: its gradient all-reduce hooks are armed by ``forward``."""

    def __init__(self, student):
        super().__init__()
        self.student = student

    def forward(self, batch, context: int):
        bands = self.student.filter_bands(batch, warm_frames=context)
        return bands, self.student.apply_bands(batch, bands)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def distill(style_path, content_paths, output_path, stft_config: StftConfig, *, config: DistillConfig = DistillConfig(),
            name: str | None = None, resume: bool = False, device: str | None = None, progress=None,
            style_info: dict | None = None, command: str | None = None, on_step=None) -> dict:
    """Train a student for one style and export it as an ONNX step model.

    Parameters
    ----------
    style_path : path
        The style clip.
    content_paths : list of paths
        Content files or folders (searched recursively for audio).
    output_path : path
        The ``.onnx`` file to write; the checkpoint is ``<output_path>.ckpt``.
    resume : bool
        Continue from the checkpoint (refused if its settings differ).
    device : str, optional
        torch device; default ``cuda`` when available, else ``cpu``.

    Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) the run is data-parallel
    (DistributedDataParallel; gloo on CPU, nccl on GPUs, one GPU per process): every process draws
    the same global batch of ``config.batch_size`` segments from the same seeded generator and
    trains on its ``batch_size / N`` of them; the all-reduced gradient is the global batch's, so
    each step equals one process's at the same global batch (to float rounding). Rank 0 alone
    writes checkpoints, the model and the progress bar; the losses it records are all ranks' means.
    style_info : dict, optional
        Extra facts about the style (source, licence) for the model's metadata.
    command : str, optional
        The command line, recorded in the model's training metadata.
    on_step : callable, optional
        Called as ``on_step(step, (total, content, style))`` after each step and its checkpoint.

    Returns
    -------
    dict
        The training report (also stored in the model's ``rtst.training`` metadata).
    """
    from rtst.transfer.descriptors import build_descriptor
    from rtst.transfer.run import load_clip
    from rtst.transfer.features import signal_features
    from rtst.transfer.student import export_onnx

    output_path = Path(output_path)
    if output_path.suffix != ".onnx":
        raise ParameterError(f"--output {str(output_path)!r} must end in .onnx")
    if not output_path.parent.is_dir():
        raise ParameterError(f"--output folder {str(output_path.parent)!r} does not exist")
    ckpt_path = output_path.with_name(output_path.name + ".ckpt")
    rank, world, local_rank = _distributed()
    if world > 1 and config.batch_size % world:
        raise ParameterError(f"--batch-size {config.batch_size} must be a multiple of the {world} processes")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if rank != 0:
        progress = None
    n_bins = stft_config.n_bins

    style_signal, style_notes = load_clip(style_path, stft_config, role="style")
    style_feat = signal_features(style_signal, stft_config)
    dconf = config.descriptor_config(n_bins)
    if style_feat.shape[1] < dconf.min_frames:
        raise ParameterError(f"style clip has {style_feat.shape[1]} frames, fewer than the descriptor's "
                             f"receptive field ({dconf.min_frames})")
    style_sha = hashlib.sha256(Path(style_path).read_bytes()).hexdigest()
    corpus = ContentCorpus(content_paths, stft_config, progress=progress)

    descriptor = build_descriptor(dconf).eval()
    for p in descriptor.parameters():
        p.requires_grad_(False)
    objective = BatchObjective(descriptor, style_feat, content_weight=config.content_weight,
                               style_weight=config.style_weight, envelope_weight=config.envelope_weight,
                               gram_weight=config.gram_weight).to(device)

    torch.manual_seed(config.seed)
    student = Student(config.student_config(stft_config))
    student.set_style(torch.from_numpy(style_feat))
    student = student.to(device)
    trainer = _Filtered(student)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trainer = DistributedDataParallel(trainer, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    gen = np.random.default_rng(config.seed)
    history = []
    step = 0
    settings = {"config": config.to_dict(), "stft": dataclasses.asdict(stft_config), "style_sha256": style_sha}
    if resume:
        if not ckpt_path.is_file():
            raise ParameterError(f"--resume: no checkpoint {str(ckpt_path)!r}")
        try:
            ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        except Exception as exc:
            raise ModelError(f"cannot read checkpoint {str(ckpt_path)!r}: {str(exc).splitlines()[0]}") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ModelError(f"{str(ckpt_path)!r} is not an rtst student checkpoint")
        if ckpt["settings"] != settings:
            differ = sorted(k for k in settings if ckpt["settings"].get(k) != settings[k])
            raise ParameterError(f"--resume: checkpoint {str(ckpt_path)!r} was trained with other {', '.join(differ)}")
        student.load_state_dict(ckpt["student"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        gen.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        history = ckpt["history"]
        step = ckpt["step"]

    context = student.config.receptive_field - 1
    length = context + config.segment_frames
    started = time.perf_counter()
    first_step = step
    wall_before = history[-1]["seconds"] if history else 0.0
    ema = None

    def checkpoint():
        if rank != 0:
            return
        _save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT, "settings": settings, "step": step, "student": student.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "numpy_rng": gen.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "history": history})

    student.train()
    share = config.batch_size // world
    while step < config.steps:
        # every process draws the whole global batch (the same generator, the same draws) and keeps its share
        batch = augment_level(corpus.draw(gen, config.batch_size, length), gen)[rank * share:(rank + 1) * share]
        batch = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
        bands, out = trainer(batch, context)
        out = out[:, :, context:]
        total, lc, ls = objective(out, batch[:, :, context:])
        if config.smooth_weight:
            # the filter moves slowly from frame to frame and from band to band: a flickering or
            # jagged gain sounds rough and asks for spectra that no signal has (nor the input's
            # phase realises)
            first = max(context, 1)
            total = total + config.smooth_weight * ((bands[:, first:] - bands[:, first - 1:-1]).pow(2).mean()
                                                    + (bands[:, context:, 1:] - bands[:, context:, :-1]).pow(2).mean())
        opt.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0))
        opt.step()
        sched.step()
        step += 1
        values = torch.stack([total.detach(), lc.detach(), ls.detach()])
        if world > 1:  # the global batch's means, as one process would record them
            torch.distributed.all_reduce(values)
            values = values / world
        values = tuple(float(v) for v in values)
        if not all(math.isfinite(v) for v in values):
            raise ModelError(f"training diverged at step {step} (loss {values[0]}); lower --learning-rate")
        ema = values if ema is None else tuple(0.98 * e + 0.02 * v for e, v in zip(ema, values))
        history.append({"step": step, "total": values[0], "content": values[1], "style": values[2],
                        "grad_norm": grad_norm, "seconds": wall_before + time.perf_counter() - started})
        if progress is not None and (step % 5 == 0 or step == config.steps):
            _progress(progress, step, config.steps, ema, started, first_step)
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoint()
        if on_step is not None:
            on_step(step, values)
    if progress is not None:
        progress.write("\n")
        progress.flush()

    tail = history[-min(len(history), 100):]
    final = {k: float(np.mean([h[k] for h in tail])) for k in ("total", "content", "style")} if tail else {}
    report = {
        "steps": step, "seconds": history[-1]["seconds"] if history else 0.0, "device": str(device),
        "torch_threads": torch.get_num_threads(), "final_losses_last100": final,
        "config": config.to_dict(), "descriptor": dconf.to_dict(),
        "student": student.config.describe(),
        "content": {"files": len(corpus.files), "used": len(corpus.features), "seconds": round(corpus.seconds, 1),
                    "fingerprint": corpus.fingerprint, "skipped": corpus.skipped[:10]},
        "command": command,
        "loss_curve": [{k: round(h[k], 6) if isinstance(h[k], float) else h[k] for k in ("step", "total", "content", "style")}
                       for h in history[::max(1, len(history) // 50)]],
    }
    style = {"file": Path(style_path).name, "sha256": style_sha, "seconds": round(style_signal.size / stft_config.sample_rate, 3),
             **({k: v for k, v in style_notes.items() if k != "path"}), **(style_info or {})}
    report["processes"] = world
    student.eval().cpu()
    if rank == 0:
        export_onnx(student, output_path, stft_config, name=name or output_path.stem, style=style, training=report)
    if world > 1:
        torch.distributed.barrier()
    return report


def read_training(path) -> dict:
    """The ``rtst.training`` and ``rtst.style`` metadata of an exported student (for reports)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    return {"training": json.loads(meta.get("rtst.training", "{}")), "style": json.loads(meta.get("rtst.style", "{}")),
            "student": json.loads(meta.get("rtst.student", "{}"))}

