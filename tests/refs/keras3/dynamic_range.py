#!/usr/bin/env python3
"""Dynamic-range ("hybrid") fixtures made the way a Keras 3 user makes them.

`converter.optimizations = [tf.lite.Optimize.DEFAULT]` with no representative
dataset makes TF's converter store the big CONV_2D, DEPTHWISE_CONV_2D and
FULLY_CONNECTED weights as int8 (per channel, symmetric) and keep float32
activations: TFLite runs those ops with its hybrid kernels. This script writes
    ds_cnn_f32        a one-block DS-CNN (conv, depthwise, pointwise, average pool, dense), float32
    ds_cnn_dynamic    the same Keras model, dynamic-range quantized by TF's converter
    mnist_dynamic     gen_models.py's MNIST net (the twin of mnist_f32), dynamic-range quantized
    mnist_dynamic_per_tensor  the same with one scale per weight tensor
                      (`_experimental_disable_per_channel`: TFLite's symmetric per-tensor hybrid CONV_2D)
each with NAME.input.npy and NAME.expected.npy (ai_edge_litert, OpResolverType.BUILTIN_REF),
through gen_models.py's helpers, and refreshes MODELS.md.

Run from the repository root after scripts/setup-venv.sh:
    .venv/bin/python tests/refs/keras3/dynamic_range.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_models as g  # noqa: E402  (sets TF's environment before importing it)
from gen_models import keras, layers, np, tf  # noqa: E402
from representative import data  # noqa: E402

HERE = Path(__file__).resolve().parent


def ds_cnn():
    """Conv 3x3 (1080 weights), depthwise 3x3 (1080), pointwise (5760), average pool, dense (576).

    The dense layer stays under TF's 1024-element threshold, so it stays float32.
    """
    def body(x):
        x = layers.Conv2D(120, 3, strides=2, padding="same", activation="relu",
                          bias_initializer=g.bias(1))(x)
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu",
                                   bias_initializer=g.bias(2))(x)
        x = layers.Conv2D(48, 1, activation="relu", bias_initializer=g.bias(3))(x)
        x = layers.AveragePooling2D((8, 4))(x)
        x = layers.Flatten()(x)
        return layers.Dense(12, bias_initializer=g.bias(4))(x)
    return g.model_of([(16, 8, 1)], body, 1700)


def convert_dynamic(model, per_tensor=False):
    """TF's dynamic-range quantization: Optimize.DEFAULT, no representative dataset."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv._experimental_disable_per_channel = per_tensor
    return conv.convert()


def main():
    rows = []
    model = ds_cnn()
    batch = [data((16, 8, 1), 900, g.BATCH, 1.2)]
    g.save("ds_cnn_f32", g.convert_f32(model), batch, rows)
    g.save("ds_cnn_dynamic", convert_dynamic(model), batch, rows)
    # The same weights (mnist_net seeds itself) and the same batch as mnist_f32.
    mnist = [np.load(HERE / "mnist_f32.input.npy")]
    g.save("mnist_dynamic", convert_dynamic(g.mnist_net()), mnist, rows)
    # (A per-tensor DEPTHWISE_CONV_2D filter is no fixture: TFLite reads its scales per channel.)
    g.save("mnist_dynamic_per_tensor", convert_dynamic(g.mnist_net(), per_tensor=True), mnist, rows)
    g.write_index()


if __name__ == "__main__":
    main()
