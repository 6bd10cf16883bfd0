"""Device lookup on top of sounddevice, with errors that list what exists."""

from __future__ import annotations

from rtst.errors import DeviceError

__all__ = ["import_sounddevice", "list_devices", "resolve_device", "format_devices"]


def import_sounddevice():
    """Import sounddevice, turning a missing PortAudio library into a DeviceError."""
    try:
        import sounddevice
    except OSError as exc:  # the wheel for Linux does not bundle PortAudio
        raise DeviceError(
            f"PortAudio library not found ({exc}); install it, e.g. apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_devices() -> list[dict]:
    """Every device PortAudio sees, as plain dicts.

    Returns
    -------
    devices : list of dict
        Keys: index, name, hostapi, max_input_channels, max_output_channels,
        default_sample_rate, default_input, default_output.
    """
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot query audio devices: {exc}") from None
    if default_in is None or default_in < 0:
        default_in = -1
    if default_out is None or default_out < 0:
        default_out = -1
    result = []
    for dev in devices:
        result.append({
            "index": dev["index"],
            "name": dev["name"],
            "hostapi": hostapis[dev["hostapi"]]["name"],
            "max_input_channels": dev["max_input_channels"],
            "max_output_channels": dev["max_output_channels"],
            "default_sample_rate": dev["default_samplerate"],
            "default_input": dev["index"] == default_in,
            "default_output": dev["index"] == default_out,
        })
    return result


def format_devices(devices: list[dict]) -> str:
    """Human-readable table of :func:`list_devices`."""
    if not devices:
        return "no audio devices found (is a sound server such as JACK running?)"
    lines = [f"{'':2} {'#':>3}  {'name':<40} {'host API':<12} {'in':>3} {'out':>3} {'rate':>7}"]
    for d in devices:
        mark = (">" if d["default_input"] else " ") + ("<" if d["default_output"] else " ")
        lines.append(
            f"{mark} {d['index']:>3}  {d['name'][:40]:<40} {d['hostapi'][:12]:<12} "
            f"{d['max_input_channels']:>3} {d['max_output_channels']:>3} {d['default_sample_rate']:>7.0f}"
        )
    lines.append("> default input, < default output")
    return "\n".join(lines)


def _summary(devices: list[dict], kind: str) -> str:
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    names = [f"{d['index']}: {d['name']}" for d in devices if d[key] > 0]
    return "; ".join(names) if names else "none"


def resolve_device(spec, kind: str) -> int:
    """Device index for ``spec`` (None = default, an index, or part of a name).

    Parameters
    ----------
    spec : int, str or None
    kind : {'input', 'output'}

    Raises
    ------
    DeviceError
        No such device, ambiguous name, or the device has no channels of that kind. The message
        lists the devices that exist.
    """
    devices = list_devices()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    usable = [d for d in devices if d[key] > 0]
    if spec is None or spec == "":
        for d in usable:
            if d[f"default_{kind}"]:
                return d["index"]
        raise DeviceError(f"no default {kind} device (available {kind}s: {_summary(devices, kind)})")
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        for d in usable:
            if d["index"] == index:
                return index
        raise DeviceError(f"no {kind} device with index {index} (available {kind}s: {_summary(devices, kind)})")
    exact = [d for d in usable if d["name"].lower() == text.lower()]
    if exact:
        return exact[0]["index"]
    matches = [d for d in usable if text.lower() in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]["index"]
    if not matches:
        raise DeviceError(f"no {kind} device matches {text!r} (available {kind}s: {_summary(devices, kind)})")
    names = ", ".join(f"{d['index']}: {d['name']}" for d in matches)
    raise DeviceError(f"{kind} device {text!r} is ambiguous ({names}); give an index")
