"""Magnitude models: one step per hop, magnitude frame in, magnitude frame out.

:func:`load_model` resolves ``'identity'``, a shipped model's name (:func:`list_models`) or a path.
The shipped models live in :data:`MODELS_DIR`: ``models/`` of the repository, installed as the
package ``rtst.models``.

Modules: :mod:`~rtst.model.base` (the step-model interface, the identity model),
:mod:`~rtst.model.onnx` (ONNX step models), :mod:`~rtst.model.shipped` (where the shipped models
are), :mod:`~rtst.model.registry` (names to models).
"""

from rtst.model.base import IdentityModel, StepModel
from rtst.model.registry import list_models, load_model
from rtst.model.shipped import MODELS_DIR, models_dir

__all__ = ["StepModel", "IdentityModel", "load_model", "list_models", "MODELS_DIR", "models_dir"]
