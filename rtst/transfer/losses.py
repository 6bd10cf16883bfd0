"""Content and style losses on descriptor activations (torch).

For a layer ``l`` with activations ``F`` of shape ``[C, N]`` (channels x positions):

* Gram matrix ``G = F F^T / N`` (``[C, C]``): channel co-activation averaged over positions, so a
  style clip and a result of different lengths compare directly (Ulyanov's ``F^T F / T``).
* Content loss ``L_c = sum_l a_l * ||F_x - F_c||^2 / ||F_c||^2``: relative squared error of the
  result's activations against the content's (same length, position by position).
* Style loss ``L_s = sum_l b_l * ||G_x - G_s||^2 / ||G_s||^2``: relative squared error of the Gram
  matrices against the style's.
* Envelope loss ``L_e`` (:class:`EnvelopeStyle`): the timbre a filter can reach. Per frame, the
  band log-powers of the spectral envelope (:func:`rtst.transfer.features.band_matrix` bands,
  frame level removed); over the sounding frames, their mean ``mu`` and covariance ``S``;
  ``L_e = mean((mu - mu_s)^2) / u^2 + w_S mean((S - S_s)^2) / u^4`` against the style's, with
  ``u`` = :data:`ENVELOPE_SCALE` (10 dB: a 10 dB difference in every band costs 1)
  (``w_S`` = :data:`ENVELOPE_COVARIANCE_WEIGHT`, 0 by default: see :class:`EnvelopeStyle`). The Gram
  loss asks for the style's texture, fine structure included, which a result that keeps the
  performer's harmonics (the student's filter) can only partly give; this term asks for the
  style's envelope and how it moves, which such a result can give.
* Total ``content_weight * L_c + style_weight * (L_s + envelope_weight * L_e)``: the style loss
  reported is the bracket.

Both terms are relative (divided by the target's own squared norm), so they are dimensionless, do
not depend on the descriptor's scale, its number of channels or the clip lengths, and a weight means
the same with every descriptor: passthrough (the content itself) has ``L_c = 0`` and ``L_s`` equal
to the style distance of the content from the style; ``L_s = 1`` is as far as silence is.
``a_l`` and ``b_l`` (per-layer weights) default to 1 for every layer.
"""

from __future__ import annotations

import numpy as np
import torch

from rtst.errors import ParameterError
from rtst.transfer import DEFAULT_ENVELOPE_WEIGHT

__all__ = ["gram", "weighted_relative_error", "TeacherObjective", "EnvelopeStyle", "envelope_stats", "HEADROOM"]

#: Headroom above the loudest bin of content and style that a result may use, in log1p units
#: (ln 4: +12 dB for large magnitudes).
HEADROOM = float(np.log(4.0))


#: Unit of the envelope loss: a band log-power difference of 10 dB (ln 10 nepers of power) in every
#: band costs 1. Fixed rather than relative to the style's spread: a steady style (a drone, a noise)
#: has almost none, and a relative loss would then outweigh everything else.
ENVELOPE_SCALE = float(np.log(10.0))
#: Weight of the covariance part of the envelope loss (:class:`EnvelopeStyle`).
ENVELOPE_COVARIANCE_WEIGHT = 0.0
#: A frame counts as sounding when its power is within this factor (-30 dB) of the loudest frame's.
ENVELOPE_ACTIVE = 1e-3


def envelope_stats(x: torch.Tensor, bands: torch.Tensor) -> tuple:
    """Mean ``[batch, K]`` and covariance ``[batch, K, K]`` of the level-free band log-powers
    (:func:`rtst.transfer.student.band_envelope`) of the sounding frames of log1p features ``x``
    ``[batch, n_bins, n_frames]``; ``bands`` ``[K, n_bins]`` rows sum to 1 (band averages)."""
    from rtst.transfer.student import FEATURE_LIMIT, band_envelope

    frame = (torch.expm1(x.clamp(0.0, FEATURE_LIMIT)) ** 2).mean(dim=1, keepdim=True)   # [batch, 1, T]
    e = band_envelope(x, bands, dim=1)                                          # [batch, K, T]
    w = (frame > ENVELOPE_ACTIVE * frame.amax(dim=2, keepdim=True)).to(x.dtype) * (frame > 1e-10).to(x.dtype)
    n = w.sum(dim=2).clamp_min(1.0)                                        # [batch, 1]
    mu = (e * w).sum(dim=2) / n
    d = (e - mu.unsqueeze(2)) * w
    return mu, d @ d.transpose(1, 2) / n.unsqueeze(2)


class EnvelopeStyle:
    """The envelope loss ``L_e`` (module docstring) against one style clip's features ``[n_bins, T]``.

    ``covariance_weight`` scales the covariance part. Matching a whole clip's covariance within
    each short training segment rewards a filter that flickers from frame to frame (a held note has
    no envelope movement of its own to give), which sounds rough and asks for spectra no signal
    has; the default keeps the mean alone.
    """

    def __init__(self, style: torch.Tensor, *, covariance_weight: float = ENVELOPE_COVARIANCE_WEIGHT):
        self.covariance_weight = float(covariance_weight)
        from rtst.transfer.features import band_matrix

        b = torch.from_numpy(band_matrix(style.shape[0])).to(style.dtype)
        self.bands = b / b.sum(dim=1, keepdim=True)
        with torch.no_grad():
            mu, cov = envelope_stats(style.unsqueeze(0), self.bands)
        self.mu, self.cov = mu[0], cov[0]

    def to(self, device) -> "EnvelopeStyle":
        for name in ("bands", "mu", "cov"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Per-item loss ``[batch]`` of features ``[batch, n_bins, n_frames]``."""
        mu, cov = envelope_stats(x, self.bands.to(x.dtype))
        loss = ((mu - self.mu) ** 2).mean(dim=1) / ENVELOPE_SCALE ** 2
        if self.covariance_weight:
            loss = loss + self.covariance_weight * ((cov - self.cov) ** 2).mean(dim=(1, 2)) / ENVELOPE_SCALE ** 4
        return loss


def gram(activations: torch.Tensor) -> torch.Tensor:
    """Gram matrix of one layer.

    Parameters
    ----------
    activations : torch.Tensor [C, N] or [1, C, N]

    Returns
    -------
    torch.Tensor [C, C]
        ``F F^T / N``.
    """
    f = activations.reshape(activations.shape[-2], activations.shape[-1])
    return (f @ f.T) / f.shape[1]


def weighted_relative_error(values: list, targets: list, weights: list, target_sq_norms: list) -> torch.Tensor:
    """``sum_l w_l ||V_l - T_l||^2 / ||T_l||^2`` over layers: the content loss on activations, the
    style loss on Gram matrices (see module docstring). Layers with weight 0 are skipped."""
    total = values[0].new_zeros(())
    for v, t, w, n in zip(values, targets, weights, target_sq_norms):
        if w:
            total = total + w * ((v - t) ** 2).sum() / n
    return total


def _layer_weights(name: str, weights, n_layers: int) -> list:
    if weights is None:
        return [1.0] * n_layers
    weights = [float(w) for w in weights]
    if len(weights) != n_layers or any(not w >= 0.0 for w in weights) or not any(weights):
        raise ParameterError(f"{name}={weights} must be {n_layers} non-negative numbers, not all zero")
    return weights


class TeacherObjective:
    """The teacher's objective for one content/style pair, targets computed once.

    Parameters
    ----------
    descriptor : torch.nn.Module
        Maps features ``[1, n_bins, n_frames]`` to a list of activations ``[1, C, N]``.
    content : torch.Tensor [n_bins, n_frames]
        Content features.
    style : torch.Tensor [n_bins, n_style_frames]
        Style features.
    content_weight, style_weight : float
        Weights of the two terms (``content_weight`` 0 is pure texture synthesis).
    content_layers, style_layers : list of float, optional
        Per-layer weights ``a_l``, ``b_l`` (default all 1).
    envelope_weight : float
        Weight of the envelope term inside the style loss (0: the Gram loss alone).
    """

    def __init__(self, descriptor, content: torch.Tensor, style: torch.Tensor, *,
                 content_weight: float, style_weight: float = 1.0,
                 content_layers=None, style_layers=None, headroom: float = HEADROOM,
                 envelope_weight: float = DEFAULT_ENVELOPE_WEIGHT):
        for name, w in (("content_weight", content_weight), ("style_weight", style_weight),
                        ("envelope_weight", envelope_weight)):
            if not (isinstance(w, (int, float)) and 0.0 <= w < float("inf")):
                raise ParameterError(f"{name}={w!r} must be a finite number >= 0")
        if content_weight == 0 and style_weight == 0:
            raise ParameterError("content_weight and style_weight are both 0: nothing to optimise")
        self.descriptor = descriptor
        # the loudest bin a result may have: the louder clip's loudest, plus headroom
        self.ceiling = float(max(content.max(), style.max())) + float(headroom)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        with torch.no_grad():
            content_acts = descriptor(content.unsqueeze(0))
            style_acts = descriptor(style.unsqueeze(0))
        n_layers = len(content_acts)
        self.content_layers = _layer_weights("content_layers", content_layers, n_layers)
        self.style_layers = _layer_weights("style_layers", style_layers, n_layers)
        self.content_targets = [a.detach() for a in content_acts]
        self.style_targets = [gram(a).detach() for a in style_acts]
        # a tiny floor keeps an all-zero layer (e.g. every ReLU off) from dividing by zero
        self.content_norms = [(t ** 2).sum().clamp_min(1e-20) for t in self.content_targets]
        self.style_norms = [(g ** 2).sum().clamp_min(1e-20) for g in self.style_targets]
        self.envelope_weight = float(envelope_weight)
        self.envelope = EnvelopeStyle(style) if self.envelope_weight else None

    def realisable(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` clipped to ``[0, ceiling]``."""
        return x.clamp(0.0, self.ceiling)

    def __call__(self, x: torch.Tensor) -> tuple:
        """Losses of features ``x`` [n_bins, n_frames]: ``(total, content, style)`` scalar tensors.

        Features are seen clipped to ``[0, ceiling]``, as :meth:`realisable` makes them before
        synthesis, so the loss is that of the audio the result becomes. The floor: no magnitude is
        negative. The ceiling (the loudest bin of content and style plus :data:`HEADROOM`): without
        it the optimiser can raise a few bins by tens of dB to fit a Gram statistic, which becomes a
        burst that dwarfs the rest of the result.
        """
        acts = self.descriptor(self.realisable(x).unsqueeze(0))
        lc = weighted_relative_error(acts, self.content_targets, self.content_layers, self.content_norms)
        ls = weighted_relative_error([gram(a) for a in acts], self.style_targets, self.style_layers,
                                     self.style_norms)
        if self.envelope is not None:
            ls = ls + self.envelope_weight * self.envelope(self.realisable(x).unsqueeze(0))[0]
        return self.content_weight * lc + self.style_weight * ls, lc, ls
