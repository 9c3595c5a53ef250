#!/usr/bin/env python3
"""Checks an integer-valued ONNX model with onnx's full checker and runs a batch
through ONNX Runtime, also returning named intermediate tensors.

Usage: run_onnx_layers.py MODEL IN.npy OUTDIR [NAME...]

IN.npy is the batch for the model's single input (float32). The model's outputs
and every NAME (an intermediate tensor, made an extra graph output after the
checker has passed the file as written) are saved as OUTDIR/<name>.npy in int64;
a tensor holding a value that is not an integer is an error naming it.
Prints the model's metadata_props as JSON on stdout.
Exit status 2 with a one-line message on a bad model, input or value.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, in_path, out_dir = argv[1:4]
    names = argv[4:]
    try:
        model = onnx.load(model_path)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 - any checker failure is a bad model
        print(f"{model_path}: {e}", file=sys.stderr)
        return 2
    known = {o for n in model.graph.node for o in n.output}
    for n in names:
        if n not in known:
            print(f"{model_path}: no tensor named {n}", file=sys.stderr)
            return 2
        model.graph.output.append(onnx.ValueInfoProto(name=n))
    x = np.load(in_path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    # no graph rewrites: run the operators as written
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    (inp,) = sess.get_inputs()
    outs = [o.name for o in sess.get_outputs()]
    ys = sess.run(outs, {inp.name: x})
    os.makedirs(out_dir, exist_ok=True)
    for name, y in zip(outs, ys):
        if not np.all(np.isfinite(y)) or not np.array_equal(y, np.round(y)):
            print(f"{model_path}: {name} holds values that are not integers", file=sys.stderr)
            return 2
        np.save(os.path.join(out_dir, f"{name}.npy"), y.astype(np.int64))
    print(json.dumps({p.key: p.value for p in model.metadata_props}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
