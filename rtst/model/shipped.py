"""Where the shipped style models live, in a checkout and in any install.

The repository keeps them in ``models/`` at its root; setup.cfg maps that folder into the package as
``rtst.models`` (``package_dir``), so a wheel, an sdist build and an editable install all carry it
with their golden and style files. This module imports nothing else of rtst, so the model modules
can all use it without importing one another.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["MODELS_DIR", "models_dir"]

#: ``models/`` beside the package in a checkout, for a source tree on ``sys.path`` with no install.
_CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "models"


def models_dir() -> Path:
    """Return the folder of the shipped models (``NAME.onnx``, ``NAME.golden.npz``, ``NAME.style.flac``).

    The installed package ``rtst.models`` when there is one on disk, else ``models/`` of the checkout
    this package was imported from.

    Returns
    -------
    pathlib.Path
        The folder; it may not exist (a source tree without its models).
    """
    try:
        folder = resources.files("rtst.models")
    except ModuleNotFoundError:  # a checkout imported without installing it
        return _CHECKOUT_DIR
    # onnxruntime opens models by file name: only a folder on disk will do (not a zipped install)
    return folder if isinstance(folder, Path) else _CHECKOUT_DIR


#: The folder of the shipped models, found once at import (:func:`models_dir`).
MODELS_DIR = models_dir()
