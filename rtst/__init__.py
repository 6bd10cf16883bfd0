"""rtst: real-time neural audio style transfer.

Sing or play into a microphone and hear your own performance wearing the timbre of another sound.

Data path (one folder per stage)::

    rtst.io -> rtst.dsp (analysis) -> rtst.model -> rtst.phase -> rtst.dsp (synthesis) -> rtst.io

:class:`rtst.engine.Processor` runs that path hop by hop on blocks of any size; the live stream
(:mod:`rtst.live`) and the renderer (:mod:`rtst.render`) both drive it.

Python API::

    import rtst
    effect = rtst.Effect("cello")            # or preset="low-latency", phase=..., mix=...
    wet = effect(voice, 44100)               # float [n] or [channels, n], same shape back
    rtst.list_models()                       # ['bells', 'cello', 'cello-ll', 'choir', 'guitar', 'identity', 'organ']
"""

__version__ = "0.1.0"

__all__ = ["Effect", "load_model", "list_models", "__version__"]

_HOMES = {"Effect": "rtst.render", "load_model": "rtst.model", "list_models": "rtst.model"}


def __getattr__(name):
    # imported on first use: `import rtst` (and `rtst --help`) stays light
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'rtst' has no attribute {name!r}")
