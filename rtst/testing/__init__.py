"""Helpers shared by the tests, the benchmarks and the tools: the JACK dummy-driver server and a
loop-back probe client (:mod:`~rtst.testing.jack`), the benchmark signal panels
(:mod:`~rtst.testing.signals`, :mod:`~rtst.testing.clips`, :mod:`~rtst.testing.midi`) and small
ONNX step models written on the fly (:mod:`~rtst.testing.onnx_models`). Not needed at run time."""
