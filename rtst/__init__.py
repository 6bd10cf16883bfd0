"""rtst: real-time neural audio style transfer.

Data path (one folder per stage)::

    rtst.io  ->  rtst.dsp (analysis)  ->  rtst.model  ->  rtst.phase  ->  rtst.dsp (synthesis)  ->  rtst.io

:class:`rtst.engine.Processor` runs that path hop by hop on blocks of any size; the live stream
(:mod:`rtst.io`) and the offline renderer (:mod:`rtst.cli` ``render``) both drive it.
"""

__version__ = "0.1.0"
