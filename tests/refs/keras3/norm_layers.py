#!/usr/bin/env python3
"""The Keras 3 twins of the workbench's normalization-layer models (`tests/tests/norm_layers.rs`),
converted by TF's converter and run beside the workbench's own .tflite files.

    python norm_layers.py VARIANT DIR

Reads from DIR (written by the Rust test):
  VARIANT.weights.K.npy         the Keras model's weights in `get_weights()` order
  VARIANT.representative.npy    calibration samples [N, *input shape] (NHWC)
  VARIANT.input.npy             the batch to run [N, *input shape]
  VARIANT.ours_f32.tflite, VARIANT.ours_int8.tflite   the workbench's float export and its int8
                                                      conversion (`quant::convert`)
Writes to DIR:
  VARIANT.tf_f32.tflite, VARIANT.tf_int8.tflite       TF's float and int8 (int8 input and output)
                                                      conversions of the Keras model
  VARIANT.{ours,tf}_{f32,int8}.out.npy                each model's outputs on the batch, one
                                                      sample at a time in TFLite's reference
                                                      kernels (int8 inputs quantized with the
                                                      model's own input parameters)
  VARIANT.ops.json                                    each model's builtin op names in order,
                                                      whether each only computes an int32 shape,
                                                      and its output's scale and zero point
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

# VARIANT -> (input shape without batch, layers); the batch size stays free (None).
VARIANTS = {
    # (a) BN after a plain convolution: folds into the CONV_2D, the ReLU fused
    "conv_bn_relu": ((6, 6, 2), lambda: [
        layers.Conv2D(4, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
    ]),
    # (b) BN after the activation: does not fold, MUL + ADD
    "conv_relu_bn": ((6, 6, 2), lambda: [
        layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(),
    ]),
    # (b) in the middle of a model: the unfolded BN's MUL and ADD run in place in TF's
    # calibrator, which shapes the int8 scales
    "conv_relu_bn_dense": ((6, 6, 2), lambda: [
        layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dense(3),
    ]),
    # (b) on features: dense with ReLU, then BN
    "dense_relu_bn": ((4, 3, 2), lambda: [
        layers.Flatten(),
        layers.Dense(5, activation="relu"),
        layers.BatchNormalization(),
    ]),
    # (c) BN after a dense layer: folds into the FULLY_CONNECTED
    "dense_bn_relu": ((4, 3, 2), lambda: [
        layers.Flatten(),
        layers.Dense(5),
        layers.BatchNormalization(),
        layers.ReLU(),
    ]),
    # (d) layer norm after a dense layer, then softmax
    "dense_layer_norm": ((4, 3, 2), lambda: [
        layers.Flatten(),
        layers.Dense(6),
        layers.LayerNormalization(),
        layers.Softmax(),
    ]),
}


def model_of(variant):
    shape, make = VARIANTS[variant]
    x = keras.Input(shape)
    y = x
    for layer in make():
        y = layer(y)
    return keras.Model(x, y)


def ops_of(interp):
    """Each op's builtin name, whether it only computes int32 shape vectors, and its first
    output's per-tensor scale and zero point (0, 0 when float)."""
    tensors = {t["index"]: t for t in interp.get_tensor_details()}

    def quant(i):
        q = tensors[i]["quantization_parameters"]
        return (float(q["scales"][0]), int(q["zero_points"][0])) if len(q["scales"]) else (0.0, 0)

    return [{"op": o["op_name"],
             "shape_only": all(tensors[i]["dtype"] == np.int32 for i in o["outputs"]),
             "scale": quant(o["outputs"][0])[0], "zero_point": quant(o["outputs"][0])[1]}
            for o in interp._get_ops_details()]


def run(path, batch):
    interp = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outs = []
    for x in batch:
        x = x[None]
        if inp["dtype"] == np.int8:
            scale, zp = inp["quantization"]
            x = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        outs.append(interp.get_tensor(out["index"])[0])
    return np.stack(outs), ops_of(interp)


def main():
    variant, d = sys.argv[1], Path(sys.argv[2])
    m = model_of(variant)
    k = 0
    weights = []
    while (d / f"{variant}.weights.{k}.npy").is_file():
        weights.append(np.load(d / f"{variant}.weights.{k}.npy"))
        k += 1
    m.set_weights(weights)
    rep = np.load(d / f"{variant}.representative.npy")
    batch = np.load(d / f"{variant}.input.npy")

    (d / f"{variant}.tf_f32.tflite").write_bytes(
        tf.lite.TFLiteConverter.from_keras_model(m).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(rep.shape[0]))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (d / f"{variant}.tf_int8.tflite").write_bytes(conv.convert())

    ops = {}
    for name in ["ours_f32", "tf_f32", "ours_int8", "tf_int8"]:
        out, ops[name] = run(d / f"{variant}.{name}.tflite", batch)
        np.save(d / f"{variant}.{name}.out.npy", out)
    (d / f"{variant}.ops.json").write_text(json.dumps(ops))


if __name__ == "__main__":
    main()
