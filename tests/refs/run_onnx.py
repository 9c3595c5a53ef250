#!/usr/bin/env python3
"""Checks an ONNX model with onnx's full checker and runs a batch through ONNX Runtime.

Usage: run_onnx.py MODEL IN.npy OUT.npy

IN.npy is the batch for the model's single input (float32); OUT.npy receives its
single output. Prints the model's metadata_props as JSON on stdout.
Exit status 2 with a one-line message on a bad model or input.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, in_path, out_path = argv[1:]
    try:
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 - any checker failure is a bad model
        print(f"{model_path}: {e}", file=sys.stderr)
        return 2
    x = np.load(in_path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    # no graph rewrites: run the operators as written
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    y = sess.run([out.name], {inp.name: x})[0]
    np.save(out_path, y)
    print(json.dumps({p.key: p.value for p in model.metadata_props}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
