"""Rig controls: OSC over loopback and MIDI messages change mix, bypass, morph, model and phase of a
running engine (real shipped ONNX models; a thread plays the audio thread)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from conftest import harmonic_tone
from rtst.config import StftConfig
from rtst.control.rig import Rig
from rtst.engine import Processor
from rtst.errors import DeviceError, ParameterError
from rtst.telemetry import Telemetry
from rtst.model import load_model

mido = pytest.importorskip("mido")
pytest.importorskip("pythonosc")


class AudioThread:
    """Feeds the processor hop-sized blocks of a tone, as the sound card's callback would."""

    def __init__(self, proc):
        self.proc = proc
        self.x = harmonic_tone(proc.stft.hop_length)
        self.out = np.zeros_like(self.x)
        self.running = True
        self.blocks = 0
        self.nonfinite = 0  # over every block, not only the last
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            self.proc.process(self.x, self.out)
            self.nonfinite += int(np.count_nonzero(~np.isfinite(self.out)))
            self.blocks += 1
            time.sleep(0.0005)

    def stop(self):
        self.running = False
        self.thread.join()


@pytest.fixture
def rig():
    stft = StftConfig()
    proc = Processor(stft, model=load_model("cello"), phase="hybrid", block_size=stft.hop_length)
    tele = Telemetry(stft.n_bins, stft.sample_rate, stft.hop_length, stft.n_fft)
    r = Rig(proc, {"cello": proc.model, "identity": load_model("identity"), "organ": load_model("organ")},
            morph_model=load_model("bells"), telemetry=tele)
    audio = AudioThread(proc)
    yield r
    audio.stop()
    # every block of the run, as the engine counted it before its clipper (a NaN frame from a
    # switch is dropped and counted as bad; a level jump is clipped and counted)
    assert audio.blocks > 0 and audio.nonfinite == 0
    assert proc.stats["bad_frames"] == 0 and proc.stats["clipped_output"] == 0, proc.stats


def until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_rig_applies_and_publishes_every_control(rig):
    p, tele = rig.processor, rig.telemetry
    rig.set("mix", 0.4)
    rig.set("bypass", "on")
    rig.set("morph", 0.7)
    assert (p.mix, p.bypassed, p.morph) == (0.4, True, 0.7)
    rig.set("model", "organ")
    assert p.model.name == "organ" and not p.swapping
    assert p.describe()["morph_model"] == "bells" and p.morph == 0.7  # the morph survives the swap
    rig.set("model", 1)
    assert p.model.name == "identity"
    rig.set("phase", "spsi")
    assert p.phase.name == "spsi" and p.phase.lookahead == 1  # held back: the latency stays
    assert tele.get_state("mix") == 0.4 and tele.get_state("bypass") == 1.0
    assert tele.get_state("model") == rig.model_names.index("identity")
    assert tele.get_state("phase") == rig.phases.index("spsi")
    for name, value, match in (("mix", 2.0, "mix=2.0"), ("mix", "loud", "number"), ("bypass", "maybe", "on/off"),
                               ("model", "violin", "must be one of"), ("model", 9, "index"),
                               ("phase", "magic", "must be one of"), ("volume", 1, "control 'volume'")):
        with pytest.raises(ParameterError, match=match):
            rig.set(name, value)
    assert (p.mix, p.model.name, p.phase.name) == (0.4, "identity", "spsi")  # nothing changed


def test_morph_needs_a_morph_model():
    proc = Processor(StftConfig(), phase="input")
    with pytest.raises(ParameterError, match="morph model"):
        Rig(proc).set("morph", 0.5)


def _osc(address, *args):
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def test_osc_over_loopback_drives_mix_bypass_morph_model_and_phase(rig):
    from pythonosc.osc_message import OscMessage

    from rtst.control.osc import OscControl

    errors = []
    osc = OscControl(rig, "127.0.0.1", 0, log=None)
    osc._report = lambda text: errors.append(text)
    osc.start()
    p = rig.processor
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    try:
        assert osc.address[0] == "127.0.0.1"
        sock.sendto(_osc("/rtst/mix", 0.25), osc.address)
        assert until(lambda: p.mix == 0.25)
        sock.sendto(_osc("/rtst/bypass", 1), osc.address)
        assert until(lambda: p.bypassed)
        sock.sendto(_osc("/rtst/morph", 0.5), osc.address)
        assert until(lambda: p.morph == 0.5)
        sock.sendto(_osc("/rtst/model", "organ"), osc.address)
        assert until(lambda: p.model.name == "organ" and not p.swapping)
        sock.sendto(_osc("/rtst/phase", "rtpghi"), osc.address)
        assert until(lambda: p.phase.name == "rtpghi")
        sock.sendto(_osc("/rtst/mix", "loud"), osc.address)
        sock.sendto(_osc("/rtst/volume", 1.0), osc.address)
        sock.sendto(_osc("/rtst/state"), osc.address)
        reply = OscMessage(sock.recvfrom(65536)[0])
        assert reply.address == "/rtst/state"
        state = json.loads(reply.params[0])
        assert state == {"mix": 0.25, "bypass": True, "morph": 0.5, "model": "organ", "phase": "rtpghi",
                         "morph_model": "bells"}
        assert until(lambda: len(errors) == 2)
        assert "must be a number" in errors[0] and "unknown address '/rtst/volume'" in errors[1]
        assert p.mix == 0.25
    finally:
        sock.close()
        osc.stop()


def test_osc_refuses_a_busy_port_and_a_bad_address(rig):
    from rtst.control.osc import OscControl, parse_address

    assert parse_address("9001") == ("127.0.0.1", 9001)
    assert parse_address("0.0.0.0:9002") == ("0.0.0.0", 9002)
    with pytest.raises(ParameterError, match="HOST:PORT"):
        parse_address("localhost:abc")
    first = OscControl(rig, "127.0.0.1", 0, log=None)
    try:
        with pytest.raises(DeviceError, match="cannot listen for OSC"):
            OscControl(rig, "127.0.0.1", first.address[1], log=None)
    finally:
        first.stop()


def test_midi_messages_drive_the_rig_through_the_default_mapping(rig):
    from rtst.control.midi import MidiControl

    p = rig.processor
    midi = MidiControl(rig, log=None)
    midi.handle(mido.Message("control_change", control=7, value=32))
    assert p.mix == pytest.approx(32 / 127)
    midi.handle(mido.Message("control_change", control=64, value=127))
    assert p.bypassed
    midi.handle(mido.Message("control_change", control=64, value=0))
    assert not p.bypassed
    midi.handle(mido.Message("control_change", control=1, value=127))
    assert p.morph == 1.0
    midi.handle(mido.Message("note_on", note=36 + rig.model_names.index("organ"), velocity=90))
    assert p.model.name == "organ"
    midi.handle(mido.Message("program_change", program=rig.model_names.index("identity")))
    assert p.model.name == "identity"
    midi.handle(mido.Message("note_on", note=48 + rig.phases.index("rtisila"), velocity=1))
    assert p.phase.name == "rtisila"
    # ignored: note-off, velocity-0 note-on, unmapped controllers and notes out of range
    for msg in (mido.Message("note_off", note=36), mido.Message("note_on", note=36, velocity=0),
                mido.Message("control_change", control=10, value=5), mido.Message("note_on", note=100, velocity=9)):
        midi.handle(msg)
    assert (p.model.name, p.phase.name) == ("identity", "rtisila")
    midi.handle(mido.Message("program_change", program=99))  # no model 99: reported, nothing changes
    assert midi.errors == 1 and p.model.name == "identity"
    assert midi.applied == 7


def test_midi_mapping_file_channel_filter_and_errors(rig, tmp_path):
    from rtst.control.midi import MidiControl, MidiMapping, open_midi_input

    path = tmp_path / "map.toml"
    path.write_text('channel = 2\n[cc]\n21 = "mix"\n')
    midi = MidiControl(rig, MidiMapping.load(path), log=None)
    midi.handle(mido.Message("control_change", channel=0, control=21, value=127))  # channel 1: ignored
    assert rig.processor.mix == 1.0 and midi.applied == 0
    midi.handle(mido.Message("control_change", channel=1, control=21, value=0))
    assert rig.processor.mix == 0.0
    midi.handle(mido.Message("control_change", channel=1, control=7, value=0))  # not in this mapping
    assert midi.applied == 1
    for text, match in (('[cc]\n7 = "volume"\n', "must be one of mix, morph, bypass"),
                        ('[cc]\n200 = "mix"\n', "0..127"), ("channel = 17\n", "channel=17"),
                        ("[notes]\nmodel = -1\n", "note number"), ("[pads]\n", "unknown key"),
                        ("cc = [", "not valid TOML")):
        path.write_text(text)
        with pytest.raises(ParameterError, match=match):
            MidiMapping.load(path)
    with pytest.raises(ParameterError, match="cannot be read"):
        MidiMapping.load(tmp_path / "missing.toml")
    with pytest.raises(DeviceError, match="MIDI input 'no such port' not found"):
        open_midi_input("no such port", print)



# ------------------------------------------------------------------------------ live capture
def _feed(telemetry, stop, level=0.2):
    """Writes a harmonic tone into the telemetry's audio ring in 10 ms blocks, as the stream does."""
    sr = telemetry.sample_rate
    n = sr // 100
    phase = 0
    while not stop.is_set():
        t = (phase + np.arange(n)) / sr
        block = (level * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 8))).astype(np.float32)
        telemetry.write_audio(block, block)
        phase += n
        time.sleep(0.01)


def test_capture_learns_a_style_plays_it_and_never_overwrites(tmp_path):
    pytest.importorskip("torch")
    from rtst.live.capture import Capture

    model = load_model("cello")
    proc = Processor(model.stft, model=model, block_size=256)
    tel = Telemetry(model.stft.n_bins, model.stft.sample_rate, model.stft.hop_length, model.stft.n_fft)
    rig = Rig(proc, telemetry=tel)
    audio_thread = AudioThread(proc)  # the swap to the captured style crossfades on a running engine
    with pytest.raises(ParameterError, match="--capture-dir"):
        rig.set("capture", 2.0)
    capture = Capture(rig, tel, tmp_path / "caps", log=None)
    rig.capture = capture
    for bad in (2.5, 31, "x"):
        with pytest.raises(ParameterError, match="seconds from 3 to 30"):
            rig.set("capture", bad)
    (tmp_path / "caps" / "capture-001.wav").write_bytes(b"an earlier take")
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(tel, stop), daemon=True)
    feeder.start()
    try:
        rig.set("capture", 3.0)
        with pytest.raises(ParameterError, match="already running"):
            rig.set("capture", 3.0)
        assert until(lambda: capture.events[-1]["status"] in ("playing", "failed"), timeout=60)
    finally:
        stop.set()
        feeder.join()
        events = capture.stop()
        audio_thread.stop()
        tel.close()
    [event] = events
    assert event["status"] == "playing", event["error"]
    # the first free name: capture-001 was taken by an earlier take, which is untouched
    assert (tmp_path / "caps" / "capture-001.wav").read_bytes() == b"an earlier take"
    assert event["model"].endswith("capture-002.onnx") and event["clip"].endswith("capture-002.wav")
    assert rig.model_names[-1] == "capture-002" and proc.model.name == "capture-002"
    import soundfile as sf

    audio, rate = sf.read(event["clip"])
    assert rate == model.stft.sample_rate and audio.size == 3 * rate and np.abs(audio).max() > 0.1


def test_control_process_takes_an_osc_flood_and_the_last_value_wins(rig, capfd):
    """OSC runs in its own process (rtst.control.remote): 10 000 messages in a burst all arrive, reach
    the engine as far fewer changes (merged, the last value winning), a bad value is reported there
    and a value the engine refuses here; /rtst/state answers from the engine's state."""
    from pythonosc.osc_message import OscMessage

    from rtst.control.remote import ControlProcess

    control = ControlProcess(rig, osc=("127.0.0.1", 0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    p = rig.processor
    try:
        assert control.proc.pid != os.getpid() and control.osc_address[0] == "127.0.0.1"
        control.start()
        for i in range(10_000):
            sock.sendto(_osc("/rtst/mix", (i % 100) / 100), control.osc_address)
        sock.sendto(_osc("/rtst/mix", 0.25), control.osc_address)
        sock.sendto(_osc("/rtst/mix", "loud"), control.osc_address)         # refused in the control process
        assert until(lambda: p.mix == 0.25, timeout=20)
        sock.sendto(_osc("/rtst/model", "organ"), control.osc_address)
        assert until(lambda: p.model.name == "organ" and not p.swapping)
        assert until(lambda: control._models and control.applied >= 2)
        time.sleep(0.2)  # the state reply reaches the control process
        sock.sendto(_osc("/rtst/state"), control.osc_address)
        state = json.loads(OscMessage(sock.recvfrom(65536)[0]).params[0])
        assert state["mix"] == 0.25 and state["model"] == "organ"
    finally:
        sock.close()
        counters = control.stop()
    assert control.proc.returncode == 0
    assert counters["osc"] == {"received": 10_004, "errors": 1}
    # merged twice, the last value winning: into forwards in the control process, and here while
    # the rig is busy (a model swap): far fewer applied than accepted, the final values all there
    assert counters["accepted"] == 10_002 and counters["forwards"] <= counters["accepted"]
    assert 2 <= counters["applied"] < 2_000
    assert counters["refused"] == 0
    assert "rtst osc: /rtst/mix: mix='loud' must be a number" in capfd.readouterr().err


def test_control_process_errors_are_one_line_and_it_ends_with_its_parent(rig, tmp_path):
    from rtst.control.remote import ControlProcess

    bad = tmp_path / "map.toml"
    bad.write_text("[cc]\n7 = 'volume'\n")
    with pytest.raises(ParameterError, match="MIDI mapping .*cc 7 = 'volume' must be one of"):
        ControlProcess(rig, midi=True, midi_map=bad)
    with pytest.raises(DeviceError, match="MIDI input 'no-such-keys' not found"):
        ControlProcess(rig, midi=True, midi_port="no-such-keys")
    control = ControlProcess(rig, osc=("127.0.0.1", 0))
    control.proc.stdin.close()            # what the parent's death does to it
    control.proc.wait(timeout=10)
    assert control.proc.returncode == 0
