#!/usr/bin/env python3
"""TF's Quantization Debugger layer statistics for a float .tflite, the reference for `quant debug`.

    python tf_debugger.py F32.tflite OUT.csv REP.npy [REP.1.npy ...]

Calibrates F32.tflite on the representative arrays (one per input, [N, ...]; TF's
calibrator, one sample at a time), quantizes it with numeric verification (TF's
MLIR quantizer, int8 everywhere, float I/O) and runs tf.lite.experimental.QuantizationDebugger
over the same samples with TFLite's reference kernels, writing its layer_statistics_dump
to OUT.csv.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.python import convert  # noqa: E402
from tensorflow.lite.python import interpreter as tfl_interpreter  # noqa: E402
from tensorflow.lite.python.optimize import calibrator  # noqa: E402
from tensorflow.lite.tools.optimize.debugging.python import debugger  # noqa: E402


class _RefInterpreter(tfl_interpreter.Interpreter):
    """TFLite's reference kernels (which ours match bit for bit) instead of the optimized ones."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("experimental_op_resolver_type", tfl_interpreter.OpResolverType.BUILTIN_REF)
        super().__init__(*args, **kwargs)


debugger._interpreter.Interpreter = _RefInterpreter


def main():
    model, out, reps = sys.argv[1], sys.argv[2], [np.load(p) for p in sys.argv[3:]]
    float_model = open(model, "rb").read()

    def gen():
        for i in range(reps[0].shape[0]):
            yield [r[i:i + 1] for r in reps]

    calibrated = calibrator.Calibrator(float_model).calibrate(gen)
    debug_model = convert.mlir_quantize(
        calibrated, fully_quantize=False, enable_numeric_verify=True,
        input_data_type=tf.float32, output_data_type=tf.float32)
    dbg = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=debug_model, float_model_content=float_model,
        debug_dataset=gen)
    dbg.run()
    with open(out, "w") as f:
        dbg.layer_statistics_dump(f)


if __name__ == "__main__":
    main()
