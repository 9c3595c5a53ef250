"""Makes the int8 test models with TF's converter and records, for each, every
int8 tensor after one run of the real TFLite interpreter (reference kernels).

  tiny_int8.tflite    conv, depthwise, add, max/avg pool, reshape, FC, softmax
  dw_fc_int8.tflite   strided conv with bias, depthwise multiplier 2, FC + RELU on a 4-D input

Run with the project venv: .venv/bin/python workbench/tflite/tests/data/make_models.py
Existing .tflite files are kept (the converter is not deterministic across
versions); the *_expected.txt files are always rewritten.
"""
import os
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

here = os.path.dirname(os.path.abspath(__file__))


def tiny():
    inp = tf.keras.Input((8, 8, 2), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = tf.keras.layers.Add()([x, y])
    x = tf.keras.layers.MaxPool2D(2)(x)
    x = tf.keras.layers.AveragePooling2D(2)(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(5)(x)
    out = tf.keras.layers.Softmax()(x)
    return tf.keras.Model(inp, out), (1, 8, 8, 2), 0


def dw_fc():
    inp = tf.keras.Input((6, 6, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, strides=2, bias_initializer="random_normal")(inp)
    x = tf.keras.layers.DepthwiseConv2D(
        2, depth_multiplier=2, bias_initializer="random_normal"
    )(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(3, bias_initializer="random_normal", activation="relu")(x)
    return tf.keras.Model(inp, x), (1, 6, 6, 3), 1


for name, make in [("tiny_int8", tiny), ("dw_fc_int8", dw_fc)]:
    tf.random.set_seed(0)
    np.random.seed(0)
    model, shape, seed = make()
    path = os.path.join(here, f"{name}.tflite")
    if not os.path.exists(path):
        np.random.seed(seed)

        def rep():
            for _ in range(20):
                yield [np.random.randn(*shape).astype(np.float32)]

        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
        open(path, "wb").write(c.convert())

    # TFLite's reference kernels (no XNNPACK), which kernels-int8 matches bit for bit.
    interp = Interpreter(
        model_path=path,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    n = int(np.prod(shape))
    x = ((np.arange(n) * 37 + 11) % 256 - 128).astype(np.int8).reshape(shape)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    with open(os.path.join(here, f"{name}_expected.txt"), "w") as f:
        f.write("# tensor index: int8 values after one invoke, input ((i*37+11) % 256) - 128,\n")
        f.write("# TFLite reference kernels (OpResolverType.BUILTIN_REF)\n")
        for d in interp.get_tensor_details():
            if d["dtype"] != np.int8:
                continue
            v = interp.get_tensor(d["index"]).flatten()
            f.write(f"{d['index']}: {' '.join(str(int(a)) for a in v)}\n")
