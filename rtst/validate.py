"""Parameter checks at the boundaries (constructors, loaders, the command line), never per block.

Each raises :class:`~rtst.errors.ParameterError` with one line that names the parameter, echoes the
value and states the rule, e.g. ``hop_length=0 must be between 1 and 1024``. Booleans are
refused where a number is asked for (``True`` is an ``int`` to Python, never to a user).
"""

from __future__ import annotations

import math
import numbers

from rtst.errors import ParameterError

__all__ = ["require_int", "require_positive_ints", "require_float"]


def require_int(name: str, value, low: int, high: int, *, rule: str | None = None) -> int:
    """``value`` as an int in ``[low, high]``.

    Parameters
    ----------
    name : str
        What the message calls the parameter.
    value : object
        An integral number (Python or numpy integer), not a bool.
    low, high : int
        Inclusive bounds.
    rule : str, optional
        The rule as the message states it, when "an integer from low to high" would not read well
        (e.g. ``"0 (all) or 1..16"``).

    Returns
    -------
    value : int

    Raises
    ------
    ParameterError
        If ``value`` is not an integer or lies outside the bounds.

    Examples
    --------
    >>> require_int("n_fft", 1024, 16, 65536)
    1024
    >>> require_int("hop_length", 0, 1, 1024)
    Traceback (most recent call last):
    ...
    rtst.errors.ParameterError: hop_length=0 must be between 1 and 1024
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} must be {rule or 'an integer'}")
    if not low <= int(value) <= high:
        raise ParameterError(f"{name}={value!r} must be {rule or f'between {low} and {high}'}")
    return int(value)


def require_positive_ints(obj, names, prefix: str = "") -> None:
    """Check that each attribute of ``obj`` in ``names`` is an integer >= 1.

    Raises
    ------
    ParameterError
        ``"<prefix><name>=<value> must be a positive integer"`` for the first that is not.
    """
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ParameterError(f"{prefix}{name}={value!r} must be a positive integer")


def require_float(name: str, value, low: float, high: float) -> float:
    """``value`` as a finite float in ``[low, high]``.

    Raises
    ------
    ParameterError
        If ``value`` is not a finite real number or lies outside the bounds.

    Examples
    --------
    >>> require_float("mix", 0.5, 0.0, 1.0)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ParameterError(f"{name}={value!r} must be a finite number")
    if not low <= float(value) <= high:
        raise ParameterError(f"{name}={value} must be between {low} and {high}")
    return float(value)
