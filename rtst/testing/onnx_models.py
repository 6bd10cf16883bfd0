"""Tiny real ONNX step models built with onnx.helper (tests only)."""

from __future__ import annotations

import json

import numpy as np


def write_echo_model(path, *, sample_rate=48000, n_fft=512, hop_length=128, feature="magnitude",
                     gain=0.5, fmt="step-v1", with_metadata=True):
    """A step model with state: ``out_t = gain * frame_t + frame_{t-1}``; state ``h`` = last frame."""
    import onnx
    from onnx import TensorProto, helper

    n_bins = n_fft // 2 + 1
    frame = helper.make_tensor_value_info("frame", TensorProto.FLOAT, [1, n_bins])
    h = helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, n_bins])
    out = helper.make_tensor_value_info("frame_out", TensorProto.FLOAT, [1, n_bins])
    h_out = helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, n_bins])
    g = helper.make_tensor("g", TensorProto.FLOAT, [1], [gain])
    nodes = [
        helper.make_node("Mul", ["frame", "g"], ["scaled"]),
        helper.make_node("Add", ["scaled", "h"], ["frame_out"]),
        helper.make_node("Identity", ["frame"], ["h_out"]),
    ]
    graph = helper.make_graph(nodes, "echo", [frame, h], [out, h_out], initializer=[g])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_metadata:
        meta = {
            "rtst.format": fmt,
            "rtst.stft": json.dumps({"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length,
                                     "window": "hann"}),
            "rtst.feature": json.dumps({"type": feature, "scale": 1.0}),
            "rtst.io": json.dumps({"frame_input": "frame", "frame_output": "frame_out",
                                   "states": [{"input": "h", "output": "h_out", "shape": [1, n_bins]}]}),
            "rtst.name": "echo",
        }
        onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def echo_reference(frames: np.ndarray, gain=0.5) -> np.ndarray:
    """What the echo model computes on magnitude frames [n_frames, n_bins]."""
    prev = np.vstack([np.zeros((1, frames.shape[1])), frames[:-1]])
    return gain * frames + prev


def step_through(path, frames: np.ndarray) -> np.ndarray:
    """Run an rtst step model file with plain onnxruntime (one thread, no rtst code), frame by
    frame from zero state: ``frames`` [n_frames, n_bins] float32 -> outputs [n_frames, n_bins]."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    io = json.loads(sess.get_modelmeta().custom_metadata_map["rtst.io"])
    states = {s["input"]: np.zeros(s["shape"], np.float32) for s in io["states"]}
    outs = np.zeros(frames.shape, dtype=np.float32)
    for t in range(frames.shape[0]):
        result = sess.run(None, {io["frame_input"]: np.ascontiguousarray(frames[t][None], dtype=np.float32), **states})
        outs[t] = result[0][0]
        states = {s["input"]: v for s, v in zip(io["states"], result[1:])}
    return outs
