"""The performer's controls on a running engine: one place every control source goes through.

The view, OSC and MIDI all call :meth:`Rig.set` from their own threads. The Rig validates the
value, then hands it to the :class:`~rtst.engine.Processor` through its lock-free setters (a float
written into an array the audio thread reads, or one reference write for a prepared model or
phase method); the audio thread glides to it. A lock serialises the control threads among
themselves; the audio thread never takes it.

Every model the performer can switch to is loaded, prepared and warmed when the Rig is built,
before the stream starts, so a switch costs the audio thread nothing but the crossfade.
"""

from __future__ import annotations

import threading
import time

from rtst.errors import ParameterError
from rtst.validate import require_float

__all__ = ["Rig", "PARAMETERS", "parse_bool", "check_change"]

#: Parameter name -> what it takes (for help texts and error messages).
PARAMETERS = {
    "mix": "dry/wet, 0 (dry, latency-aligned) .. 1 (wet)",
    "bypass": "on/off (1/0, true/false): 20 ms crossfade to the latency-aligned input",
    "morph": "0 (the model) .. 1 (the morph model), glides over 30 ms",
    "model": "a loaded model's name or index",
    "phase": "a phase method's name or index",
    "capture": "seconds (3..30) of the input to learn a new style from, then play it (rtst live --capture-dir)",
}
#: How long a control thread waits for a model swap in progress to finish.
SWAP_WAIT_S = 2.0


def parse_bool(name: str, value) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "on", "yes"):
            return True
        if text in ("0", "false", "off", "no"):
            return False
    elif isinstance(value, (bool, int, float)):
        return float(value) >= 0.5
    raise ParameterError(f"{name}={value!r} must be on/off, true/false or 1/0")


def _pick(kind: str, value, names: list) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        i = int(value)
        if 0 <= i < len(names):
            return names[i]
        raise ParameterError(f"{kind}={i} must be an index from 0 to {len(names) - 1}")
    if isinstance(value, str) and value in names:
        return value
    raise ParameterError(f"{kind}={value!r} must be one of {', '.join(names)} (or its index)")


class Rig:
    """Controls of one Processor.

    Parameters
    ----------
    processor : rtst.engine.Processor
    models : dict of str -> StepModel
        Every model the performer may switch to, by name, the running one included (it is added
        if missing). Each must be its own instance.
    phases : sequence of str, optional
        Phase methods offered (default: every one, :data:`rtst.phase.PHASE_NAMES`).
    morph_model : StepModel, optional
        A second style to morph towards (its own instance, not one of ``models``).
    telemetry : rtst.telemetry.Telemetry, optional
        Where the current settings are published for the view.
    """

    def __init__(self, processor, models: dict | None = None, phases=None,
                 *, morph_model=None, telemetry=None):
        self.processor = processor
        self.models = dict(models or {})
        self.models.setdefault(processor.model.name, processor.model)
        if self.models[processor.model.name] is not processor.model:
            raise ParameterError(f"models[{processor.model.name!r}] must be the running model instance")
        for name, model in self.models.items():
            if model is not processor.model:
                processor.prepare_model(model)  # checked against the engine, warmed, reset: switching is instant
        self.model_names = list(self.models)
        if phases is None:
            from rtst.phase import PHASE_NAMES

            phases = PHASE_NAMES
        self.phases = list(phases)
        if processor.phase.name not in self.phases:
            self.phases.append(processor.phase.name)
        self.morph_model = morph_model
        if morph_model is not None:
            processor.set_morph_model(morph_model)
        self.telemetry = telemetry
        #: The live capture (:class:`rtst.live.capture.Capture`) ``capture`` starts; None: refused.
        self.capture = None
        self._lock = threading.Lock()
        self.changes = 0
        self._publish()

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        p = self.processor
        return {"mix": p.mix, "bypass": p.bypassed, "morph": p.morph, "model": p.model.name,
                "phase": p.phase.name, "morph_model": None if self.morph_model is None else self.morph_model.name}

    def info(self) -> dict:
        """What the view needs to build its controls."""
        return {"models": self.model_names, "phases": self.phases, "model": self.processor.model.name,
                "phase": self.processor.phase.name, "capture": self.capture is not None,
                "morph_model": None if self.morph_model is None else self.morph_model.name}

    def _publish(self) -> None:
        if self.telemetry is None:
            return
        p = self.processor
        self.telemetry.set_state(
            mix=p.mix, bypass=p.bypassed, morph=p.morph,
            model=self.model_names.index(p.model.name) if p.model.name in self.models else -1,
            phase=self.phases.index(p.phase.name) if p.phase.name in self.phases else -1,
        )

    # ------------------------------------------------------------------ control
    def set(self, name: str, value) -> None:
        """Apply one control change (any control thread).

        Raises
        ------
        ParameterError
            Unknown parameter or a value it does not take; nothing changes.
        """
        with self._lock:
            value = check_change(name, value, models=self.model_names, phases=self.phases,
                                 morph=self.morph_model is not None, capture=self.capture is not None)
            p = self.processor
            if name == "mix":
                p.set_mix(value)
            elif name == "bypass":
                p.set_bypass(value)
            elif name == "morph":
                p.set_morph(value)
            elif name == "model":
                self._switch_model(value)
            elif name == "capture":
                self.capture.start(value)
            else:
                self._wait(lambda: p.phase_switching, "phase switch")
                if value != p.phase.name:
                    p.set_phase(value)
                    self._wait(lambda: p.phase_switching, "phase switch")
            self.changes += 1
            self._publish()

    def apply(self, changes: dict) -> None:
        """:meth:`set` for each item of ``changes`` (e.g. a message from the view)."""
        for key, value in changes.items():
            self.set(key, value)

    def add_model(self, name: str, model) -> None:
        """Offer one more model for switching (a captured style): checked against the engine,
        prepared and warmed here, on the calling thread, never the audio thread."""
        with self._lock:
            if name in self.models:
                raise ParameterError(f"a model named {name!r} is loaded already")
            self.processor.prepare_model(model)
            self.models[name] = model
            self.model_names.append(name)

    def _switch_model(self, name: str) -> None:
        p = self.processor
        self._wait(lambda: p.swapping, "model swap")
        if name == p.model.name:
            return
        morph = p.morph
        if self.morph_model is not None and morph > 0.0:
            # the swap needs the second model slot: glide the morph out first so nothing jumps
            p.set_morph(0.0)
            self._wait(lambda: p.morph_current > 1e-3, "morph glide")
        p.swap_model(self.models[name])
        self._wait(lambda: p.swapping, "model swap")
        if self.morph_model is not None:  # ... and back in, around the new model
            p.set_morph_model(self.morph_model)
            p.set_morph(morph)

    def _wait(self, busy, what: str) -> None:
        deadline = time.monotonic() + SWAP_WAIT_S
        while busy():
            if time.monotonic() > deadline:
                raise ParameterError(f"a {what} did not finish within {SWAP_WAIT_S} s (is the stream running?)")
            time.sleep(0.005)


def check_change(name: str, value, *, models: list, phases: list, morph: bool, capture: bool):
    """The value of one control change, checked and normalised without touching the engine: a
    float in 0..1 (mix, morph), a bool (bypass), a name (model, phase), or the capture's seconds as
    given (the capture checks them). ``models`` and ``phases`` are the choices offered, ``morph``
    and ``capture`` whether a morph model and a capture folder exist. The Rig and the control
    process (:mod:`rtst.control.remote`) both check with it.

    Raises
    ------
    ParameterError
        Unknown parameter or a value it does not take.
    """
    if name not in PARAMETERS:
        raise ParameterError(f"control {name!r} must be one of {', '.join(PARAMETERS)}")
    if name == "morph" and not morph:
        raise ParameterError("morph needs a morph model (rtst live --morph-model NAME)")
    if name in ("mix", "morph"):
        return require_float(name, _number(name, value), 0.0, 1.0)
    if name == "bypass":
        return parse_bool(name, value)
    if name in ("model", "phase"):
        return _pick(name, value, models if name == "model" else phases)
    if not capture:
        raise ParameterError("capture needs a capture folder (rtst live --capture-dir DIR)")
    return value


def _number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a number from 0 to 1") from None
