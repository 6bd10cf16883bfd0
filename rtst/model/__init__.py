"""Magnitude models: one step per hop, magnitude frame in, magnitude frame out.

:func:`load_model` resolves ``'identity'``, a model name in ``models/`` or a path.
"""

from rtst.model.base import IdentityModel, StepModel, load_model

__all__ = ["StepModel", "IdentityModel", "load_model"]
