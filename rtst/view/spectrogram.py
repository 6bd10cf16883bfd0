"""Scrolling spectrograms for the view: a preallocated image ring and the pyqtgraph plot showing it.

:class:`SpectrogramImage` turns hop magnitudes into 8-bit colour indices and keeps them in a ring
that is written twice: column ``j`` goes to rows ``j`` and ``j + n_cols`` of a buffer of
``2 * n_cols`` columns, so the newest ``n_cols`` columns, oldest first, are always the contiguous
slice ``buf[head : head + n_cols]`` (a view; no copy, no roll, no reallocation while it runs).
Both frequency axes (linear bins and log-spaced rows) are kept up to date on every push, so the
axis can be switched at any time with the whole history shown at once.

For drawing, the shown axis also has a ring of ready-made colours (32-bit RGB, row-major: one row
per frequency, ``2 * n_cols`` columns, written the same twice-over way), so a redraw is one
:class:`QImage` over the ring's memory at the head's offset, scaled onto the plot: no colour
mapping, copy or transpose of the history per frame.

Levels are fixed, in dB relative to a full-scale sinusoid (0 dBFS: a Hann-windowed sinusoid of
amplitude 1 peaks at ``n_fft / 4``), and mapped through a perceptual colour map whose brightness
rises with the level.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui

from rtst.errors import ParameterError
from rtst.validate import require_int

__all__ = ["SpectrogramImage", "SpectrogramPlot", "RingImageItem", "AXES", "HISTORY_S", "MAX_COLUMNS"]

#: Frequency axes a spectrogram can show.
AXES = ("linear", "log")
#: Seconds of history a spectrogram aims to show.
HISTORY_S = 5.0
#: Most columns kept; shorter hops are aggregated (max) several per column to stay below (about
#: a screen's width: more would only be thrown away when the image is scaled onto the plot).
MAX_COLUMNS = 1024
#: Columns converted per pass (the size of the scratch arrays).
_CHUNK = 128
# the level of a zero magnitude: far below any display floor, and log10 stays finite
_TINY = np.float32(1e-12)


def _hz_label(f_hz: float) -> str:
    if f_hz >= 1000:
        return f"{f_hz / 1000:g}k"
    return f"{f_hz:g}"


class SpectrogramImage:
    """A scrolling spectrogram in a preallocated ring of 8-bit colour indices.

    Parameters
    ----------
    n_bins : int
        Magnitude bins per frame (``n_fft // 2 + 1`` for the engine's STFT).
    sample_rate, hop_length, n_fft : int
        The STFT the magnitudes come from.
    history_s : float
        Seconds of history to show; at most ``max_columns`` columns are kept, several hops being
        aggregated (max) into one column when hops are shorter than ``history_s / max_columns``.
    max_columns : int
    level_min_db, level_max_db : float
        Levels (dBFS) mapped to the darkest and the brightest colour; fixed, never auto-scaled.
    f_min_hz : float
        Lowest frequency of the log axis (its top is the highest bin).
    log_rows : int
        Rows of the log axis.
    axis : {"linear", "log"}
        The frequency axis shown first.
    colormap : str
        A pyqtgraph colour map name (perceptual: brightness rises with the level).
    """

    def __init__(self, n_bins: int, sample_rate: int, hop_length: int, n_fft: int, *,
                 history_s: float = HISTORY_S, max_columns: int = MAX_COLUMNS,
                 level_min_db: float = -100.0, level_max_db: float = 0.0, f_min_hz: float = 30.0,
                 log_rows: int = 512, axis: str = "linear", colormap: str = "inferno"):
        for name, value in (("n_bins", n_bins), ("sample_rate", sample_rate), ("hop_length", hop_length),
                            ("n_fft", n_fft), ("max_columns", max_columns), ("log_rows", log_rows)):
            require_int(name, value, 1, 1 << 30, rule="a positive integer")
        if n_bins < 2:
            raise ParameterError(f"n_bins={n_bins} must be at least 2")
        if not 0 < history_s <= 600:
            raise ParameterError(f"history_s={history_s} must be in (0, 600]")
        if not level_min_db < level_max_db:
            raise ParameterError(f"level_min_db={level_min_db} must be below level_max_db={level_max_db}")
        self.n_bins = int(n_bins)
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.n_fft = int(n_fft)
        self.bin_hz = self.sample_rate / self.n_fft
        self.top_hz = (self.n_bins - 1) * self.bin_hz
        if not 0 < f_min_hz < self.top_hz:
            raise ParameterError(f"f_min_hz={f_min_hz} must be in (0, {self.top_hz:g}) (the highest bin)")
        self.level_min_db = float(level_min_db)
        self.level_max_db = float(level_max_db)
        self.f_min_hz = float(f_min_hz)

        hops = int(np.ceil(history_s * self.sample_rate / self.hop_length))
        #: Hops aggregated (max) into one column.
        self.hops_per_column = int(np.ceil(hops / max_columns))
        #: Columns shown.
        self.n_cols = int(np.ceil(hops / self.hops_per_column))
        #: Seconds per column.
        self.column_s = self.hops_per_column * self.hop_length / self.sample_rate
        #: Columns pushed so far.
        self.columns_written = 0

        # level (dB) -> colour index: 255 * (20 log10(mag / ref) - min) / (max - min), plus 0.5
        # so that the truncating cast to uint8 rounds
        ref = self.n_fft / 4.0
        span = self.level_max_db - self.level_min_db
        self._scale = np.float32(20.0 * 255.0 / span)
        self._offset = np.float32(255.0 * (-20.0 * np.log10(ref) - self.level_min_db) / span + 0.5)

        # log rows: centres geometrically spaced; a row narrower than a bin interpolates between
        # its two nearest bins, a wider one takes the max over the bins of its band (so a narrow
        # peak between two row centres is not lost); the wide rows are the top ones
        self.log_rows = int(log_rows)
        centres = np.geomspace(self.f_min_hz, self.top_hz, self.log_rows)  # [log_rows] Hz
        pos = centres / self.bin_hz                                          # [log_rows] bins
        edges = np.sqrt(centres[:-1] * centres[1:]) / self.bin_hz           # [log_rows - 1] bins
        starts = np.ceil(np.concatenate(([0.0], edges))).astype(np.intp)    # first bin of each band
        widths = np.diff(np.concatenate(([pos[0] - (edges[0] - pos[0])], edges, [self.n_bins])))
        wide = widths >= 1.0
        n_narrow = int(np.argmax(wide)) if wide.any() else self.log_rows
        if not wide[n_narrow:].all():
            n_narrow = self.log_rows  # defensive: geometric rows only widen upwards
        self._n_narrow = n_narrow
        lo = np.minimum(np.floor(pos[:n_narrow]).astype(np.intp), self.n_bins - 2)
        self._lo = lo                                                        # [n_narrow] bin index
        self._hi = lo + 1                                                    # [n_narrow] bin index
        self._w = (pos[:n_narrow] - lo).astype(np.float32)                  # [n_narrow] weight of hi
        wide_starts = starts[n_narrow:]
        self._wide_from = int(wide_starts[0]) if wide_starts.size else self.n_bins
        self._wide_starts = (wide_starts - self._wide_from).astype(np.intp)  # [log_rows - n_narrow]
        self._log_hz = centres

        # the rings (both axes), and scratch for one chunk of columns
        self._rings = {
            "linear": np.zeros((2 * self.n_cols, self.n_bins), np.uint8),    # [2 n_cols, n_bins]
            "log": np.zeros((2 * self.n_cols, self.log_rows), np.uint8),     # [2 n_cols, log_rows]
        }
        self._head = 0
        self._level = np.zeros((_CHUNK, self.n_bins), np.float32)           # [chunk, n_bins] 0..255
        self._lin_u8 = np.zeros((_CHUNK, self.n_bins), np.uint8)            # [chunk, n_bins]
        self._log_f = np.zeros((_CHUNK, self.log_rows), np.float32)         # [chunk, log_rows]
        self._log_tmp = np.zeros((_CHUNK, n_narrow), np.float32)            # [chunk, n_narrow]
        self._log_u8 = np.zeros((_CHUNK, self.log_rows), np.uint8)          # [chunk, log_rows]
        self._acc = np.zeros(self.n_bins, np.float32)                       # [n_bins] partial column
        self._acc_hops = 0

        self.lut = pg.colormap.get(colormap).getLookupTable(0.0, 1.0, 256, alpha=False)  # uint8 [256, 3]
        lut = self.lut.astype(np.uint32)
        #: The colour map as QImage.Format_RGB32 pixels (0xffRRGGBB), uint32 [256].
        self.lut32 = (0xFF000000 | (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]).astype(np.uint32)
        self._display = {axis_name: np.zeros((ring.shape[1], 2 * self.n_cols), np.uint32)  # [rows, 2 n_cols]
                         for axis_name, ring in self._rings.items()}
        self._axis = "linear"
        self.set_axis(axis)

    # ------------------------------------------------------------------ axis
    @property
    def axis(self) -> str:
        return self._axis

    def set_axis(self, axis: str) -> None:
        """Show the ``"linear"`` or the ``"log"`` frequency axis (history kept)."""
        if axis not in AXES:
            raise ParameterError(f"axis={axis!r} must be one of {', '.join(AXES)}")
        self._axis = axis
        # the colour ring follows only the shown axis: bring it up to date from the index ring
        np.take(self.lut32, self._rings[axis].T, out=self._display[axis])

    @property
    def n_rows(self) -> int:
        return self.n_bins if self._axis == "linear" else self.log_rows

    @property
    def buffer(self) -> np.ndarray:
        """The current axis's ring, uint8 [2 * n_cols, n_rows] (the same object for the view's life)."""
        return self._rings[self._axis]

    @property
    def head(self) -> int:
        """Column of the oldest shown column in the rings (the newest ``n_cols`` start here)."""
        return self._head

    @property
    def display_buffer(self) -> np.ndarray:
        """The shown axis's colour ring, uint32 [n_rows, 2 * n_cols] (QImage.Format_RGB32 pixels,
        row 0 the lowest frequency); columns ``head .. head + n_cols`` are the image."""
        return self._display[self._axis]

    def image(self) -> np.ndarray:
        """The newest ``n_cols`` columns, oldest first: uint8 [n_cols, n_rows], a view into
        :attr:`buffer` (x = time, y = frequency, row 0 the lowest)."""
        return self._rings[self._axis][self._head:self._head + self.n_cols]

    def row_hz(self) -> np.ndarray:
        """Centre frequency of each row on the current axis, float64 [n_rows] (Hz)."""
        if self._axis == "linear":
            return np.arange(self.n_bins) * self.bin_hz
        return self._log_hz.copy()

    def row_of_hz(self, f_hz: float) -> float:
        """Row (fractional; row centres at integers) where ``f_hz`` lies on the current axis."""
        if self._axis == "linear":
            return f_hz / self.bin_hz
        step = np.log10(self.top_hz / self.f_min_hz) / (self.log_rows - 1)
        return float(np.log10(f_hz / self.f_min_hz) / step)

    def y_extent(self) -> tuple:
        """``(y0, height)`` of the image in plot units: Hz (linear) or log10 Hz (log), so that row
        centres fall on their frequencies."""
        if self._axis == "linear":
            return -0.5 * self.bin_hz, self.n_bins * self.bin_hz
        lo, hi = np.log10(self.f_min_hz), np.log10(self.top_hz)
        step = (hi - lo) / (self.log_rows - 1)
        return lo - 0.5 * step, self.log_rows * step

    def ticks(self) -> list:
        """Frequency ticks for pyqtgraph's ``AxisItem.setTicks``: ``[major, minor]``, each a list of
        ``(y, label)`` in plot units, labelled in Hz (``"1k"`` = 1000 Hz)."""
        if self._axis == "log":
            major = [f for f in (10.0, 100.0, 1000.0, 10000.0, 100000.0) if self.f_min_hz <= f <= self.top_hz]
            minor = [m * f for f in (10.0, 100.0, 1000.0, 10000.0) for m in (2.0, 5.0)
                     if self.f_min_hz <= m * f <= self.top_hz]
            return [[(float(np.log10(f)), _hz_label(f)) for f in major],
                    [(float(np.log10(f)), _hz_label(f)) for f in minor]]
        step = next((s for s in (100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0)
                     if self.top_hz / s <= 6), 100000.0)
        major = np.arange(0.0, self.top_hz + 1e-9, step)
        minor = np.arange(0.0, self.top_hz + 1e-9, step / 5)
        return [[(float(f), _hz_label(f)) for f in major], [(float(f), "") for f in minor]]

    # ------------------------------------------------------------------ data
    def clear(self) -> None:
        for ring in self._rings.values():
            ring.fill(0)
        self._acc.fill(0)
        self._acc_hops = 0

    def push(self, magnitudes: np.ndarray) -> int:
        """Append hops.

        Parameters
        ----------
        magnitudes : ndarray
            float [m, n_bins], linear magnitudes, oldest first (any strides).

        Returns
        -------
        int
            Columns added (hops are aggregated ``hops_per_column`` to a column; a remainder waits
            for the next push). Of more than ``n_cols`` new columns only the newest are kept.
        """
        if magnitudes.ndim != 2 or magnitudes.shape[1] != self.n_bins:
            raise ParameterError(f"magnitudes of shape {magnitudes.shape} must be [m, {self.n_bins}]")
        m = magnitudes.shape[0]
        hpc = self.hops_per_column
        i = 0
        added = 0
        if self._acc_hops:  # finish the column the last push left open
            take = min(hpc - self._acc_hops, m)
            for k in range(take):
                np.maximum(self._acc, magnitudes[k], out=self._acc)
            self._acc_hops += take
            i = take
            if self._acc_hops == hpc:
                np.copyto(self._level[0], self._acc)
                self._emit(1)
                added += 1
                self._acc.fill(0)
                self._acc_hops = 0
        full = (m - i) // hpc
        if full > self.n_cols:  # older columns would be overwritten before anyone saw them
            i += (full - self.n_cols) * hpc
            full = self.n_cols
        while full:
            k = min(full, _CHUNK)
            block = magnitudes[i:i + k * hpc]
            if hpc == 1:
                np.copyto(self._level[:k], block)
            else:
                np.max(block.reshape(k, hpc, self.n_bins), axis=1, out=self._level[:k])
            self._emit(k)
            added += k
            i += k * hpc
            full -= k
        for k in range(i, m):  # the remainder opens the next column
            np.maximum(self._acc, magnitudes[k], out=self._acc)
            self._acc_hops += 1
        return added

    def _emit(self, k: int) -> None:
        """Convert ``self._level[:k]`` (magnitudes) to colour indices and append them to both rings."""
        s = self._level[:k]
        np.maximum(s, _TINY, out=s)
        np.log10(s, out=s)
        s *= self._scale
        s += self._offset
        np.clip(s, 0.0, 255.0, out=s)
        lin = self._lin_u8[:k]
        np.copyto(lin, s, casting="unsafe")
        logf = self._log_f[:k]
        nn = self._n_narrow
        if nn:
            a = logf[:, :nn]
            b = self._log_tmp[:k]
            np.take(s, self._lo, axis=1, out=a, mode="clip")
            np.take(s, self._hi, axis=1, out=b, mode="clip")
            b -= a
            b *= self._w
            a += b
        if nn < self.log_rows:
            np.maximum.reduceat(s[:, self._wide_from:], self._wide_starts, axis=1, out=logf[:, nn:])
        logu = self._log_u8[:k]
        np.copyto(logu, logf, casting="unsafe")
        self._write(self._rings["linear"], lin)
        self._write(self._rings["log"], logu)
        shown = lin if self._axis == "linear" else logu
        self._write(self._display[self._axis].T, np.take(self.lut32, shown))
        self._head = (self._head + k) % self.n_cols
        self.columns_written += k

    def _write(self, ring: np.ndarray, cols: np.ndarray) -> None:
        """Write ``cols`` [k, rows] at the head, twice (j and j + n_cols), wrapping at n_cols."""
        n = self.n_cols
        h = self._head
        k = cols.shape[0]
        a = min(k, n - h)
        ring[h:h + a] = cols[:a]
        ring[h + n:h + n + a] = cols[:a]
        if k > a:
            ring[:k - a] = cols[a:]
            ring[n:n + k - a] = cols[a:]


class RingImageItem(pg.GraphicsObject):
    """Draws a :class:`SpectrogramImage`'s colour ring: one QImage over the ring's memory at the
    head's offset (no copy), one pixel per column and row in item coordinates, row 0 at the bottom."""

    def __init__(self, spectrogram: SpectrogramImage):
        super().__init__()
        self.spectrogram = spectrogram

    def boundingRect(self):
        s = self.spectrogram
        return QtCore.QRectF(0.0, 0.0, float(s.n_cols), float(s.n_rows))

    def paint(self, painter, *args):
        s = self.spectrogram
        ring = s.display_buffer
        pixels = memoryview(ring).cast("B")[4 * s.head:]  # the QImage reads rows ring.strides[0] apart
        image = QtGui.QImage(pixels, s.n_cols, s.n_rows, ring.strides[0], QtGui.QImage.Format.Format_RGB32)
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(self.boundingRect(), image)


class SpectrogramPlot(pg.PlotWidget):
    """A :class:`SpectrogramImage` in a pyqtgraph plot: time (s, newest at 0) across, frequency up,
    labelled in Hz on either axis. Mouse panning and zooming are off: the view is fixed.

    Parameters
    ----------
    spectrogram : SpectrogramImage
    title : str
    parent : QWidget, optional
    """

    def __init__(self, spectrogram: SpectrogramImage, title: str = "", parent=None):
        super().__init__(parent=parent)
        self.spectrogram = spectrogram
        plot = self.getPlotItem()
        if title:
            plot.setTitle(title)
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setLabel("left", "Hz")
        plot.setLabel("bottom", "s (0 = now)")
        self.image_item = RingImageItem(spectrogram)
        plot.addItem(self.image_item)
        self._dirty = True
        self.set_axis(spectrogram.axis)

    def set_axis(self, axis: str) -> None:
        """Switch the frequency axis (``"linear"`` or ``"log"``); the history stays."""
        spec = self.spectrogram
        spec.set_axis(axis)
        width_s = spec.n_cols * spec.column_s
        y0, height = spec.y_extent()
        # the item's own coordinates are pixels (column, row); this maps them to seconds (newest
        # column ending at 0) and to Hz or log10 Hz
        self.image_item.prepareGeometryChange()
        transform = QtGui.QTransform()
        transform.translate(-width_s, y0)
        transform.scale(width_s / spec.n_cols, height / spec.n_rows)
        self.image_item.setTransform(transform)
        self.image_item.update()
        plot = self.getPlotItem()
        plot.getAxis("left").setTicks(spec.ticks())
        plot.setXRange(-width_s, 0.0, padding=0)
        plot.setYRange(y0, y0 + height, padding=0)
        self._dirty = False

    def push(self, magnitudes: np.ndarray) -> int:
        """:meth:`SpectrogramImage.push`; the plot shows the new columns at the next :meth:`refresh`."""
        added = self.spectrogram.push(magnitudes)
        self._dirty = self._dirty or added > 0
        return added

    def refresh(self) -> None:
        """Schedule a redraw if columns were added since the last one."""
        if self._dirty:
            self.image_item.update()
            self._dirty = False
