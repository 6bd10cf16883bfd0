"""Kernel states: NamedTuples of arrays and scalars, crossing into compiled code as plain tuples.

Each real-time kernel keeps what it reads and writes between hops in one ``typing.NamedTuple``
defined beside it, built once (off the audio thread); per-hop scalars live in small arrays so the
tuple never changes. numba types a plain-tuple argument from a quick fingerprint of its items, but
a NamedTuple argument through attribute look-ups and an encoded copy of every field name on every
call: microseconds, and Python allocations, on the audio thread. So the owner keeps
:func:`plain` of the state for the per-hop call, and the kernel gives the fields their names back
with :func:`named`, which costs nothing in compiled code::

    self._state = MyState(...)           # named, for Python (reset, tests)
    self._args = plain(self._state)      # the same arrays, as nested plain tuples

    @rt_kernel
    def _my_step(mag, spec_out, args):
        st = named(MyState, args)        # st.ola, st.fft.work, ...

Field annotations name nested states (``fft: FftPlan``), which :func:`named` rebuilds too.
"""

from __future__ import annotations

import typing

from numba.core import types
from numba.extending import overload

__all__ = ["plain", "named"]


def _is_state(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _nested(cls) -> dict[int, type]:
    """Position -> NamedTuple class of each field of ``cls`` that is itself a state."""
    hints = typing.get_type_hints(cls)
    return {i: hints[f] for i, f in enumerate(cls._fields) if _is_state(hints.get(f))}


def plain(state):
    """``state`` with every NamedTuple, nested ones included, turned into a plain tuple.

    Parameters
    ----------
    state : NamedTuple

    Returns
    -------
    args : tuple
        The same arrays and scalars (no copies), in field order.
    """
    if isinstance(state, tuple):
        return tuple(plain(item) for item in state)
    return state


def named(cls, args):
    """The NamedTuple ``cls`` holding the items of ``args`` (its :func:`plain` form, or itself).

    Works in compiled code (where it costs nothing) and in Python.

    Parameters
    ----------
    cls : NamedTuple class
    args : tuple

    Returns
    -------
    state : cls
    """
    if isinstance(args, cls):
        return args
    nested = _nested(cls)
    return cls(*(named(nested[i], item) if i in nested else item for i, item in enumerate(args)))


def _expression(cls, source: str, env: dict) -> str:
    """Source that builds ``cls`` from the plain tuple held in the expression ``source``."""
    name = f"_cls{len(env)}"
    env[name] = cls
    nested = _nested(cls)
    items = [_expression(nested[i], f"{source}[{i}]", env) if i in nested else f"{source}[{i}]"
             for i in range(len(cls._fields))]
    return f"{name}({', '.join(items)})"


@overload(named)
def _named_compiled(cls, args):
    target = cls.instance_class
    if isinstance(args, types.BaseNamedTuple) and args.instance_class is target:
        return lambda cls, args: args
    env: dict = {}
    # The constructor call is written out per class: numba then builds the tuple's struct in place.
    source = f"def impl(cls, args):\n    return {_expression(target, 'args', env)}\n"
    exec(source, env)  # the source holds only generated names and indices
    return env["impl"]
