#!/usr/bin/env python3
"""Runs a batch through TensorFlow Lite Micro's interpreter (the `tflite-micro` wheel) one sample at a time.

Usage: run_tflm.py MODEL IN.npy OUT.npy [--arena-bytes N]

IN.npy holds a batch [N, ...] of inputs whose per-sample shape is the model input's
shape without its leading batch dimension of 1, and whose dtype is the input's (int8 or
float32). OUT.npy receives the stacked outputs of output 0 [N, ...]. TFLite Micro's
reference kernels rescale int8 FULLY_CONNECTED with a fixed-point multiplier (the
`Flavor::Micro` rule), where LiteRT (run_tflite.py) rescales in double.
Exit status 2 with a one-line message on bad input.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tflite_micro.python.tflite_micro import runtime  # noqa: E402

# The batch checks and the error type of the LiteRT runner beside this script.
from run_tflite import UsageError, check_batch  # noqa: E402

DEFAULT_ARENA = 8 << 20


def run(model, batch, arena_bytes=DEFAULT_ARENA, in_path="input"):
    """Runs every sample of batch through TFLite Micro; returns the stacked outputs of output 0."""
    try:
        interp = runtime.Interpreter.from_file(str(model), arena_size=arena_bytes)
    except (ValueError, RuntimeError) as e:
        raise UsageError(f"{model}: cannot load model: {e}") from e
    check_batch(batch, interp.get_input_details(0), in_path)
    outputs = []
    for sample in batch:
        interp.set_input(sample[None], 0)
        interp.invoke()
        outputs.append(interp.get_output(0)[0].copy())
        interp.reset()
    return np.stack(outputs)


def main():
    ap = argparse.ArgumentParser(
        description="Run a batch through TFLite Micro's interpreter, one sample at a time.")
    ap.add_argument("model", type=Path)
    ap.add_argument("input", type=Path, help=".npy batch [N, ...input shape without batch]")
    ap.add_argument("output", type=Path, help=".npy to write, [N, ...output shape]")
    ap.add_argument("--arena-bytes", type=int, default=DEFAULT_ARENA,
                    help=f"tensor arena size (default {DEFAULT_ARENA})")
    args = ap.parse_args()
    try:
        if not args.model.is_file():
            raise UsageError(f"{args.model}: no such model file")
        try:
            batch = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UsageError(f"{args.input}: cannot read .npy: {e}") from e
        np.save(args.output, run(args.model, batch, args.arena_bytes, args.input))
    except UsageError as e:
        print(f"run_tflm: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
