"""The processor core: blocks of any size in, hops through STFT → model → phase → overlap-add,
blocks out, with the live controls (mix, bypass, morph, model swap, phase switch) as small slot
objects beside it. :class:`Processor` is what the live stream and the file renderer both drive.
"""

from rtst.engine.processor import (BYPASS_FADE_S, INPUT_LIMIT, MIX_SMOOTHING_S, MORPH_SMOOTHING_S, OUTPUT_LIMIT,
                                   PHASE_FADE_S, SWAP_FADE_S, Processor)

__all__ = ["Processor", "INPUT_LIMIT", "OUTPUT_LIMIT", "MIX_SMOOTHING_S", "MORPH_SMOOTHING_S", "SWAP_FADE_S",
           "PHASE_FADE_S", "BYPASS_FADE_S"]
