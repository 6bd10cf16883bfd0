"""The one way rtst opens an ONNX file with onnxruntime."""

from __future__ import annotations

from pathlib import Path

from rtst.errors import ModelError

__all__ = ["open_session"]


def open_session(path: Path):
    """An onnxruntime session for ``path`` as every rtst model runs: one intra-op and one inter-op
    thread, sequential execution, the CPU provider.

    Raises
    ------
    ModelError
        The file is truncated or not ONNX.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {str(path)!r}: {first}") from None
