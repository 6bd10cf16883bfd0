"""Offline style transfer (the teacher), its descriptor networks and objective style metrics.

Torch is needed for the descriptors, losses and optimisation (the ``train`` extra); importing this
package does not import torch, and nothing on the real-time path imports this package.
"""

#: The teacher's default content weight (relative losses, style weight 1), chosen with
#: benchmarks/bench_teacher.py (docs/teacher.md).
DEFAULT_CONTENT_WEIGHT = 0.01
#: Weight of the envelope (timbre) term inside the style loss, teacher and student alike
#: (:class:`rtst.transfer.losses.EnvelopeStyle`).
DEFAULT_ENVELOPE_WEIGHT = 1.0
