#!/usr/bin/env python3
"""TF's post-training quantization of a float .tflite, the reference for `quant convert` options
the fixtures lack (per-tensor weights).

    python tf_quantize.py F32.tflite OUT.tflite [--per-tensor] REP.npy [REP.1.npy ...]

Calibrates F32.tflite on the representative arrays (one per input, [N, ...], one sample at a
time) with TF's calibrator and quantizes it with TF's MLIR quantizer (int8 input and output;
`disable_per_channel` with --per-tensor), as the converter does for a Keras model.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.python import convert  # noqa: E402
from tensorflow.lite.python.optimize import calibrator  # noqa: E402


def main():
    args = sys.argv[1:]
    per_tensor = "--per-tensor" in args
    args = [a for a in args if a != "--per-tensor"]
    model, out, reps = args[0], args[1], [np.load(p) for p in args[2:]]

    def gen():
        for i in range(reps[0].shape[0]):
            yield [r[i:i + 1] for r in reps]

    calibrated = calibrator.Calibrator(open(model, "rb").read()).calibrate(gen)
    quantized = convert.mlir_quantize(
        calibrated, disable_per_channel=per_tensor, fully_quantize=True,
        input_data_type=tf.int8, output_data_type=tf.int8)
    open(out, "wb").write(quantized)


if __name__ == "__main__":
    main()
