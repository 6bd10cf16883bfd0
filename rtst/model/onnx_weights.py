"""The initialisers (weights) of an ONNX file, read without the ``onnx`` package.

onnxruntime runs a graph but does not hand its weights back, and the ``onnx`` package is a
training-time extra. The part of the format needed here is small: a ModelProto holds a GraphProto
(field 7), which holds TensorProtos (field 5), each with dims (1), data_type (2), name (8) and its
values either as raw little-endian bytes (9) or as packed floats (4). Protocol buffers' wire format
is a sequence of (field number, wire type) keys, each followed by a varint, a fixed 4 or 8 bytes, or
a length and that many bytes; everything else is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtst.errors import ModelError

__all__ = ["read_initializers"]

_FLOAT = 1   # TensorProto.DataType.FLOAT
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None):
    """Yield (field number, wire type, value) where value is an int or a (start, end) slice."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _FIXED64:
            value, pos = (pos, pos + 8), pos + 8
        elif wire == _FIXED32:
            value, pos = (pos, pos + 4), pos + 4
        elif wire == _BYTES:
            n, pos = _varint(buf, pos)
            value, pos = (pos, pos + n), pos + n
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        yield field, wire, value


def _tensor(buf: bytes, span: tuple[int, int]) -> tuple[str, np.ndarray | None]:
    dims, dtype, name, raw, floats = [], None, "", None, None
    for field, wire, value in _fields(buf, *span):
        if field == 1:
            if wire == _BYTES:  # packed dims
                pos, stop = value
                while pos < stop:
                    d, pos = _varint(buf, pos)
                    dims.append(d)
            else:
                dims.append(value)
        elif field == 2:
            dtype = value
        elif field == 8:
            name = buf[value[0]:value[1]].decode()
        elif field == 9:
            raw = buf[value[0]:value[1]]
        elif field == 4 and wire == _BYTES:
            floats = buf[value[0]:value[1]]
    if dtype != _FLOAT:
        return name, None
    data = raw if raw is not None else floats
    if data is None:
        return name, None
    array = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if array.size != int(np.prod(dims, dtype=np.int64)):
        raise ValueError(f"initialiser {name!r}: {array.size} values for dims {dims}")
    return name, array.reshape(dims)


def read_initializers(path) -> dict[str, np.ndarray]:
    """The float32 initialisers of the ONNX file ``path`` by name (others are left out).

    Raises
    ------
    ModelError
        The file cannot be read or is not a well-formed protocol buffer.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
        out = {}
        for field, wire, value in _fields(buf):
            if field == 7 and wire == _BYTES:        # ModelProto.graph
                for g_field, g_wire, g_value in _fields(buf, *value):
                    if g_field == 5 and g_wire == _BYTES:   # GraphProto.initializer
                        name, array = _tensor(buf, g_value)
                        if array is not None:
                            out[name] = array
        return out
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the weights of {str(path)!r}: {exc}") from None
