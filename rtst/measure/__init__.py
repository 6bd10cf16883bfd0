"""Measurement: the report JSON (:mod:`~rtst.measure.report`), offline per-hop benchmarks
(:mod:`~rtst.measure.bench`), the sound-card loopback latency measurement
(:mod:`~rtst.measure.loopback`) and the style metrics a listener would agree with
(:mod:`~rtst.measure.style`)."""
