"""Spectrogram figures for teacher runs (matplotlib, from the ``train`` extra)."""

from __future__ import annotations

import os

import numpy as np

from rtst.config import StftConfig
from rtst.errors import ParameterError

__all__ = ["plot_spectrograms"]

#: Colour range of the plots: 80 dB below the loudest bin of all panels.
DYNAMIC_RANGE_DB = 80.0


def plot_spectrograms(path: str | os.PathLike, panels: list, stft_config: StftConfig, *,
                      title: str | None = None) -> None:
    """Write side-by-side spectrograms to a PNG.

    Parameters
    ----------
    path : path
        Where to write the PNG.
    panels : list of (str, np.ndarray float [n_bins, n_frames])
        Titles and log1p features (as the teacher works on them); shown in dB on one shared scale.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParameterError("--plot needs matplotlib: pip install 'rtst[train]'") from None
    mags = [np.expm1(np.maximum(np.asarray(f, dtype=np.float64), 0.0)) for _, f in panels]
    top = max(float(m.max()) for m in mags) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), sharey=True,
                             constrained_layout=True)
    axes = np.atleast_1d(axes)
    seconds_per_frame = stft_config.hop_length / stft_config.sample_rate
    nyquist_khz = stft_config.sample_rate / 2000
    image = None
    for ax, (name, _), mag in zip(axes, panels, mags):
        db = 20 * np.log10(np.maximum(mag / top, 10 ** (-DYNAMIC_RANGE_DB / 20)))
        image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-DYNAMIC_RANGE_DB, vmax=0,
                          extent=(0, mag.shape[1] * seconds_per_frame, 0, nyquist_khz), interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=list(axes), label="dB re. loudest bin")
    if title:
        fig.suptitle(title)
    fig.savefig(str(path), dpi=100)
    plt.close(fig)
